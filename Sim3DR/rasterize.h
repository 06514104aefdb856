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
// larger image).  `work` holds 13 * w floats and `columns` w int32 values,
// both scratch.
void blend_scaled(const uint8_t* small, const float* small_depth, int64_t sh, int64_t sw,
                  float scale, float alpha, uint8_t* out, int64_t h, int64_t w,
                  int64_t out_stride, float* work, int32_t* columns);

}  // namespace sim3dr

#endif  // SIM3DR_RASTERIZE_H
