// Sim3DR: a small single-threaded CPU rasteriser for coloured triangle meshes.
//
// Conventions shared by every function here (the Python wrapper
// faceverse_ros/render.py documents the same rules for its callers):
//
// * Vertices are float32 (N, 3) rows (x, y, z), C order.  x and y are image
//   pixel coordinates with pixel centres on integers (x right, y down; the
//   OpenCV convention, so pixel (row r, col c) is sampled at x = c, y = r);
//   z is depth, smaller = nearer.
// * Triangles are int32 (T, 3) vertex indices, C order.  Every index must lie
//   in [0, N); check with find_bad_triangle() before calling the kernels,
//   which trust their indices.
// * Colours are float32 (N, 3) values in [0, 1] (channel order is passed
//   through unchanged; the wrapper uses RGB).
//
// None of these functions allocates memory or touches Python: they can run
// with the GIL released.
#ifndef SIM3DR_RASTERIZE_H
#define SIM3DR_RASTERIZE_H

#include <cstdint>

namespace sim3dr {

// Largest |x| or |y| (pixels) a vertex may have for its triangles to be
// rasterised; triangles with any vertex beyond it (or non-finite) are skipped.
// 2^21 px keeps the 8-bit sub-pixel fixed-point edge functions inside int64.
constexpr float kGuardBand = 2097152.0f;
// Sub-pixel precision of the rasteriser: vertex x, y are snapped to 1/256 px.
constexpr int kSubpixelBits = 8;
// Largest image side the rasteriser accepts (pixels).
constexpr int64_t kMaxImageSide = 1 << 20;

// Index of the first triangle that has a vertex index outside [0, nver),
// or -1 when all are valid.
int64_t find_bad_triangle(const int32_t* triangles, int64_t ntri, int64_t nver);

// Unit vertex normals: for every triangle (a, b, c) the face normal
// (b - a) x (c - a) (area weighted, not normalised) is added to its three
// vertices; each sum is then divided by its length.  Faces whose normal is
// not finite are left out; a vertex with a zero (or non-finite) sum gets
// (0, 0, 0).  `out` holds nver * 3 floats.
void vertex_normals(const float* vertices, int64_t nver, const int32_t* triangles,
                    int64_t ntri, float* out);

struct LightParams {
  float ambient = 0.3f;    // ambient intensity (white)
  float diffuse = 0.8f;    // Lambert intensity, times clip(n.l, 0, 1)
  float specular = 0.1f;   // specular intensity, times clip(v.r, 0, 1)^shininess
  float shininess = 5.0f;  // specular exponent
  float light_pos[3] = {0.0f, 0.0f, -5.0f};  // in the rescaled frame
  float view_pos[3] = {0.0f, 0.0f, -5.0f};   // in the rescaled frame
};

// Per-vertex Phong-style lighting with one white point light.
//
// Positions are first rescaled to about [-1, 1]: with lo/hi the per-axis
// minimum/maximum over the finite vertices, centre c = (lo + hi) / 2 and
// extent s = max over axes of (hi - lo), p = (v - c) * 2 / s (p = v - c when
// s == 0), so the longest axis spans exactly [-1, 1] and the others are
// centred in it.  With n the vertex normal (expected unit length),
// l = unit(light_pos - p), e = unit(view_pos - p), k = n.l:
//   diffuse term  = clip(k, 0, 1)
//   specular term = clip(e.(2 k n - l), 0, 1)^shininess when k > 0, else 0
//   f = clip(ambient + diffuse * diffuse term + specular * specular term, 0, 1)
//   out = colour * f  (per channel; white light).
// Non-finite terms count as 0, so a vertex with a non-finite position or
// normal gets colour * clip(ambient, 0, 1).  `out` holds nver * 3 floats and
// may alias `colors`.
void light_colors(const float* vertices, const float* normals, const float* colors,
                  int64_t nver, const LightParams& params, float* out);

// Z-buffer rasterisation of per-vertex coloured triangles into an RGB uint8
// image (height, width, 3) and a float32 depth buffer (height, width), both
// C order, which the caller initialises (e.g. black and +inf, or 1e8).
//
// * Coverage: a pixel is drawn when its centre lies inside the triangle, with
//   x, y snapped to 1/256 px and exact integer edge functions.  Centres
//   exactly on an edge follow the top-left rule (after orienting every
//   triangle the same way, an edge is kept if it is a left edge, i.e. it goes
//   up in y-down coordinates, or a top edge, i.e. horizontal with the
//   triangle below it), so two triangles sharing an edge never both draw,
//   nor both miss, a pixel on it.
// * No back-face culling: both windings are drawn.  Zero-area triangles
//   (before or after snapping), triangles with a non-finite coordinate and
//   triangles with |x| or |y| > kGuardBand are skipped.
// * Depth: z interpolated linearly in screen space with the barycentric
//   weights (computed from the unsnapped x, y); the pixel is written when z < depth[pixel], z < far and z is
//   finite (not -inf after an overflow), so earlier triangles win ties.
// * Colour: barycentric interpolation of the vertex colours, then
//   round(255 * clip(c, 0, 1)) (NaN -> 0).  No anti-aliasing.
// Returns the number of pixel writes (a pixel written twice counts twice).
int64_t rasterize(const float* vertices, int64_t nver, const int32_t* triangles,
                  int64_t ntri, const float* colors, uint8_t* image, float* depth,
                  int64_t height, int64_t width, float far);

// Scale a render up onto an image region and blend it there (premultiplied
// coverage, so the render's empty background does not darken its edges).
//
// `small` (sh, sw, 3) uint8 is a render drawn at `scale` small pixels per
// region pixel (0 < scale <= 1) and `small_depth` (sh, sw) float32 its depth
// buffer: a small pixel is covered when its depth is below +inf.  Region
// pixel (row r, col c) samples the small render at x = (c + 0.5) * scale - 0.5,
// y = (r + 0.5) * scale - 0.5 with bilinear weights w_i over the four nearest
// small pixels i (coordinates clamped to the small image, as OpenCV's
// INTER_LINEAR does).  With cov_i in {0, 1}, q = sum w_i cov_i (the
// coverage) and P = sum w_i cov_i rgb_i, the region pixel becomes
//   round(clip(out * (1 - alpha * q) + alpha * P, 0, 255))
// where q > 0, and is left as it is where q == 0.  With scale 1 this is a
// plain blend of the covered pixels: out * (1 - alpha) + alpha * rgb.
// `out` is (h, w, 3) uint8 with rows `out_stride` bytes apart (a view of a
// larger image).  `work` holds 13 * w floats, `columns` w and `spans` 2 * sh
// int32 values, all scratch.  Only the region columns a covered small pixel can
// reach are sampled and blended (the others would be left as they are anyway).
void blend_scaled(const uint8_t* small, const float* small_depth, int64_t sh, int64_t sw,
                  float scale, float alpha, uint8_t* out, int64_t h, int64_t w,
                  int64_t out_stride, float* work, int32_t* columns, int32_t* spans);


// One tracked face's decimated mesh for a frame (the debug render's per-frame
// work; the spec's reconstruction steps on a vertex subset), in one pass.
// Float32 unless said otherwise; every array C order, (nver, 3) rows.
struct MeshFrame {
  int64_t nver = 0;
  const float* shape = nullptr;      // identity shape: mean + identity basis @ id
  const float* albedo = nullptr;     // mean texture + texture basis @ tex, [0, 1]
  const int32_t* triangles = nullptr;  // (ntri, 3) into the nver vertices
  int64_t ntri = 0;
  int64_t mouth_a = 0, mouth_b = 0;  // step 4: delta = (z[a] - z[b]) - mouth_ref
  float mouth_ref = 0.0f;
  int64_t mouth_begin = 0, mouth_end = 0;      // vertices whose z -= delta
  int64_t eye_begin[2] = {0, 0}, eye_end[2] = {0, 0};  // step 3: left, right eyeball
  float eye_rot[2][9] = {};          // their rotations (row-major 3x3)
  float eye_centre[2][3] = {};       // rotation centres
  float rot[9] = {};                 // head rotation R (row-major)
  float trans[3] = {};               // head translation t (model units)
  float gamma[27] = {};              // SH lighting (9 x 3, the ambient already added)
  float sh[4] = {};                  // SH factors a0 c0, a1 c1, a2 c2, a2 c2 d0 (spec 3.8)
  float focal = 1000.0f, principal = 127.5f, camera_distance = 10.0f;
  double box[4] = {0.0, 0.0, 256.0, 256.0};  // crop box (x0, y0, x1, y1), image px
  double crop_size = 256.0;
  double model_rot[9] = {};          // unposed model units -> optical frame metres:
  double model_trans[3] = {};        //   (v * unit_m) R_m^T + t_m
  double unit_m = 0.1;
};

// The per-frame mesh of a MeshFrame. On entry `v` holds the expression
// offsets (expression basis @ exp); on return the articulated unposed shape:
//   v += shape; delta from step-1 z; each eyeball's rows
//   v = R_eye (v - c) + c; mouth rows z -= delta.
// Then, with p = R v + t (posed, model units):
//   normals = R n, n the unit vertex_normals of v on `triangles`;
//   colors = clip(albedo * (H(normals) @ gamma), 0, 1), H the 9 SH values
//     (spec 3.8, made of `sh`: faceverse_ros/core/projection.py SH_FACTORS);
//   image = crop pixels -> image pixels of the crop-camera projection
//     (z' = p.z + camera_distance, u = p.x focal / z' + principal, likewise v),
//     x = u (x1 - x0) / crop_size + x0, y = v (y1 - y0) / crop_size + y0, z = z';
//   vertices_m (double) = (v unit_m) R_m^T + t_m.
// `work` holds nver * 3 floats (scratch).
void face_mesh_frame(const MeshFrame& f, float* v, float* image, float* normals,
                     float* colors, double* vertices_m, float* work);

}  // namespace sim3dr

#endif  // SIM3DR_RASTERIZE_H
