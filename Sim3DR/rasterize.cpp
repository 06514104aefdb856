// Sim3DR kernels: vertex normals, per-vertex lighting and a z-buffer
// rasteriser.  See rasterize.h for the conventions and exact rules.
#include "rasterize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace sim3dr {
namespace {

inline bool finite3(float a, float b, float c) {
  // Comparisons with NaN are false; inf fails the bound.
  return std::fabs(a) <= 3.4028234e38f && std::fabs(b) <= 3.4028234e38f &&
         std::fabs(c) <= 3.4028234e38f;
}

inline float clip01(float x) {
  // NaN -> 0.
  return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f;
}

inline uint8_t to_u8(float c) {
  return static_cast<uint8_t>(clip01(c) * 255.0f + 0.5f);
}

// ceil(a / 2^kSubpixelBits) and floor(a / 2^kSubpixelBits) for signed a
// (>> on negative int64 is an arithmetic shift with gcc/clang/msvc).
inline int64_t ceil_px(int64_t a) { return -((-a) >> kSubpixelBits); }
inline int64_t floor_px(int64_t a) { return a >> kSubpixelBits; }

// x^e with a fast path for small integer exponents (the usual case, 5).
inline float power(float x, float e) {
  if (e >= 0.0f && e <= 64.0f && e == std::floor(e)) {
    int n = static_cast<int>(e);
    float result = 1.0f, base = x;
    while (n) {
      if (n & 1) result *= base;
      base *= base;
      n >>= 1;
    }
    return result;
  }
  return std::pow(x, e);
}

inline void unit(float v[3]) {
  float len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  float inv = len > 0.0f ? 1.0f / len : 0.0f;
  v[0] *= inv;
  v[1] *= inv;
  v[2] *= inv;
}

}  // namespace

int64_t find_bad_triangle(const int32_t* triangles, int64_t ntri, int64_t nver) {
  const uint64_t limit = static_cast<uint64_t>(nver);
  for (int64_t t = 0; t < ntri; ++t) {
    const int32_t* tri = triangles + 3 * t;
    // A negative index becomes a huge unsigned one.
    if (static_cast<uint64_t>(static_cast<int64_t>(tri[0])) >= limit ||
        static_cast<uint64_t>(static_cast<int64_t>(tri[1])) >= limit ||
        static_cast<uint64_t>(static_cast<int64_t>(tri[2])) >= limit)
      return t;
  }
  return -1;
}

void vertex_normals(const float* vertices, int64_t nver, const int32_t* triangles,
                    int64_t ntri, float* out) {
  std::memset(out, 0, sizeof(float) * 3 * static_cast<size_t>(nver));
  for (int64_t t = 0; t < ntri; ++t) {
    const int32_t* tri = triangles + 3 * t;
    const float* a = vertices + 3 * static_cast<int64_t>(tri[0]);
    const float* b = vertices + 3 * static_cast<int64_t>(tri[1]);
    const float* c = vertices + 3 * static_cast<int64_t>(tri[2]);
    const float ux = b[0] - a[0], uy = b[1] - a[1], uz = b[2] - a[2];
    const float vx = c[0] - a[0], vy = c[1] - a[1], vz = c[2] - a[2];
    const float nx = uy * vz - uz * vy;
    const float ny = uz * vx - ux * vz;
    const float nz = ux * vy - uy * vx;
    if (!finite3(nx, ny, nz)) continue;
    for (int k = 0; k < 3; ++k) {
      float* o = out + 3 * static_cast<int64_t>(tri[k]);
      o[0] += nx;
      o[1] += ny;
      o[2] += nz;
    }
  }
  for (int64_t i = 0; i < nver; ++i) {
    float* o = out + 3 * i;
    const float len = std::sqrt(o[0] * o[0] + o[1] * o[1] + o[2] * o[2]);
    if (len > 0.0f && len <= 3.4028234e38f) {
      const float inv = 1.0f / len;
      o[0] *= inv;
      o[1] *= inv;
      o[2] *= inv;
    } else {
      o[0] = o[1] = o[2] = 0.0f;
    }
  }
}

void light_colors(const float* vertices, const float* normals, const float* colors,
                  int64_t nver, const LightParams& p, float* out) {
  // Rescaling to about [-1, 1] over the finite vertices.
  float lo[3] = {0.0f, 0.0f, 0.0f}, hi[3] = {0.0f, 0.0f, 0.0f};
  bool any = false;
  for (int64_t i = 0; i < nver; ++i) {
    const float* v = vertices + 3 * i;
    if (!finite3(v[0], v[1], v[2])) continue;
    if (!any) {
      for (int k = 0; k < 3; ++k) lo[k] = hi[k] = v[k];
      any = true;
    } else {
      for (int k = 0; k < 3; ++k) {
        lo[k] = std::min(lo[k], v[k]);
        hi[k] = std::max(hi[k], v[k]);
      }
    }
  }
  float centre[3], extent = 0.0f;
  for (int k = 0; k < 3; ++k) {
    // Halve before adding so that huge finite values cannot overflow.
    centre[k] = 0.5f * lo[k] + 0.5f * hi[k];
    extent = std::max(extent, hi[k] - lo[k]);
  }
  float scale = extent > 0.0f && extent <= 3.4028234e38f ? 2.0f / extent : 1.0f;

  const float ambient = p.ambient;
  for (int64_t i = 0; i < nver; ++i) {
    const float* v = vertices + 3 * i;
    const float* n = normals + 3 * i;
    float q[3], l[3], e[3];
    for (int k = 0; k < 3; ++k) {
      q[k] = (v[k] - centre[k]) * scale;
      l[k] = p.light_pos[k] - q[k];
      e[k] = p.view_pos[k] - q[k];
    }
    unit(l);
    unit(e);
    const float k_nl = n[0] * l[0] + n[1] * l[1] + n[2] * l[2];
    float f = ambient + p.diffuse * clip01(k_nl);
    if (k_nl > 0.0f && p.specular != 0.0f) {
      float r[3];
      for (int k = 0; k < 3; ++k) r[k] = 2.0f * k_nl * n[k] - l[k];
      const float s = clip01(e[0] * r[0] + e[1] * r[1] + e[2] * r[2]);
      const float term = power(s, p.shininess);
      if (term == term) f += p.specular * term;  // skip NaN
    }
    f = clip01(f);
    const float* c = colors + 3 * i;
    float* o = out + 3 * i;
    o[0] = c[0] * f;
    o[1] = c[1] * f;
    o[2] = c[2] * f;
  }
}

int64_t rasterize(const float* vertices, int64_t /*nver*/, const int32_t* triangles,
                  int64_t ntri, const float* colors, uint8_t* image, float* depth,
                  int64_t height, int64_t width, float far) {
  if (height <= 0 || width <= 0) return 0;
  const float sub = static_cast<float>(1 << kSubpixelBits);
  const int64_t one = int64_t{1} << kSubpixelBits;  // one pixel in fixed point
  int64_t writes = 0;

  for (int64_t t = 0; t < ntri; ++t) {
    const int32_t* tri = triangles + 3 * t;
    const float* va = vertices + 3 * static_cast<int64_t>(tri[0]);
    const float* vb = vertices + 3 * static_cast<int64_t>(tri[1]);  // swapped
    const float* vc = vertices + 3 * static_cast<int64_t>(tri[2]);  // below
    // Finite and inside the guard band (NaN fails every comparison).
    if (!(std::fabs(va[0]) <= kGuardBand && std::fabs(va[1]) <= kGuardBand &&
          std::fabs(vb[0]) <= kGuardBand && std::fabs(vb[1]) <= kGuardBand &&
          std::fabs(vc[0]) <= kGuardBand && std::fabs(vc[1]) <= kGuardBand &&
          finite3(va[2], vb[2], vc[2])))
      continue;

    // Snap to the fixed-point grid (exact scaling by a power of two).
    int64_t x0 = std::llrint(va[0] * sub), y0 = std::llrint(va[1] * sub);
    int64_t x1 = std::llrint(vb[0] * sub), y1 = std::llrint(vb[1] * sub);
    int64_t x2 = std::llrint(vc[0] * sub), y2 = std::llrint(vc[1] * sub);
    const float* c0 = colors + 3 * static_cast<int64_t>(tri[0]);
    const float* c1 = colors + 3 * static_cast<int64_t>(tri[1]);
    const float* c2 = colors + 3 * static_cast<int64_t>(tri[2]);
    float z0 = va[2], z1 = vb[2], z2 = vc[2];

    int64_t area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0);
    if (area == 0) continue;
    if (area < 0) {  // orient every triangle the same way: swap b and c
      std::swap(x1, x2);
      std::swap(y1, y2);
      std::swap(z1, z2);
      std::swap(c1, c2);
      std::swap(vb, vc);
      area = -area;
    }

    // Bounding box of pixel centres, clipped to the image.
    const int64_t xmin = std::max<int64_t>(0, ceil_px(std::min({x0, x1, x2})));
    const int64_t xmax = std::min<int64_t>(width - 1, floor_px(std::max({x0, x1, x2})));
    const int64_t ymin = std::max<int64_t>(0, ceil_px(std::min({y0, y1, y2})));
    const int64_t ymax = std::min<int64_t>(height - 1, floor_px(std::max({y0, y1, y2})));
    if (xmin > xmax || ymin > ymax) continue;

    // Edge function of edge (a -> b) at p: (bx-ax)(py-ay) - (by-ay)(px-ax);
    // positive inside.  e0 is the edge opposite vertex 0 (1 -> 2), etc.
    const int64_t px = xmin * one, py = ymin * one;
    const int64_t dx12 = x2 - x1, dy12 = y2 - y1;
    const int64_t dx20 = x0 - x2, dy20 = y0 - y2;
    const int64_t dx01 = x1 - x0, dy01 = y1 - y0;
    // Top-left rule: an edge keeps centres exactly on it when it goes up
    // (dy < 0) or is horizontal going right (dy == 0, dx > 0).  Other edges
    // need a strictly positive value: bias -1 on integer values.
    const int64_t b0 = (dy12 < 0 || (dy12 == 0 && dx12 > 0)) ? 0 : -1;
    const int64_t b1 = (dy20 < 0 || (dy20 == 0 && dx20 > 0)) ? 0 : -1;
    const int64_t b2 = (dy01 < 0 || (dy01 == 0 && dx01 > 0)) ? 0 : -1;
    int64_t row0 = dx12 * (py - y1) - dy12 * (px - x1);
    int64_t row1 = dx20 * (py - y2) - dy20 * (px - x2);
    int64_t row2 = dx01 * (py - y0) - dy01 * (px - x0);
    const int64_t stepx0 = -dy12 * one, stepy0 = dx12 * one;
    const int64_t stepx1 = -dy20 * one, stepy1 = dx20 * one;
    const int64_t stepx2 = -dy01 * one, stepy2 = dx01 * one;

    // Barycentric weights of vertices 1 and 2 as planes over the pixel grid,
    // from the unsnapped coordinates (double setup, relative to the box
    // corner), so that depth and colour do not move with the 1/256 px
    // snapping used for coverage.  A centre covered by the snapped triangle
    // but just outside the exact one gets a slightly extrapolated value.
    const double ax = va[0], ay = va[1], bx = vb[0], by = vb[1], cx = vc[0], cy = vc[1];
    const double farea = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
    if (!(farea != 0.0)) continue;  // collinear before snapping
    const double inv = 1.0 / farea;
    const double qx = static_cast<double>(xmin), qy = static_cast<double>(ymin);
    const double w1_00 = ((ax - cx) * (qy - cy) - (ay - cy) * (qx - cx)) * inv;
    const double w2_00 = ((bx - ax) * (qy - ay) - (by - ay) * (qx - ax)) * inv;
    const double w1_dy = (ax - cx) * inv, w2_dy = (bx - ax) * inv;
    const float w1_dx = static_cast<float>((cy - ay) * inv);
    const float w2_dx = static_cast<float>((ay - by) * inv);
    // Attribute = a0 + w1 (a1 - a0) + w2 (a2 - a0), with w0 + w1 + w2 = 1.
    const float zd1 = z1 - z0, zd2 = z2 - z0;
    const float r0 = c0[0], g0 = c0[1], bl0 = c0[2];
    const float rd1 = c1[0] - r0, rd2 = c2[0] - r0;
    const float gd1 = c1[1] - g0, gd2 = c2[1] - g0;
    const float bd1 = c1[2] - bl0, bd2 = c2[2] - bl0;

    for (int64_t y = ymin; y <= ymax; ++y) {
      int64_t e0 = row0 + b0, e1 = row1 + b1, e2 = row2 + b2;
      const double dy = static_cast<double>(y - ymin);
      const float w1_row = static_cast<float>(w1_00 + w1_dy * dy);
      const float w2_row = static_cast<float>(w2_00 + w2_dy * dy);
      float* zrow = depth + y * width;
      uint8_t* irow = image + y * width * 3;
      bool entered = false;
      for (int64_t x = xmin; x <= xmax; ++x) {
        if ((e0 | e1 | e2) >= 0) {
          entered = true;
          const float fx = static_cast<float>(x - xmin);
          const float w1 = w1_row + w1_dx * fx;
          const float w2 = w2_row + w2_dx * fx;
          const float z = z0 + w1 * zd1 + w2 * zd2;
          if (z < zrow[x] && z < far && z >= -3.4028234e38f) {  // finite z only
            zrow[x] = z;
            uint8_t* pix = irow + 3 * x;
            pix[0] = to_u8(r0 + w1 * rd1 + w2 * rd2);
            pix[1] = to_u8(g0 + w1 * gd1 + w2 * gd2);
            pix[2] = to_u8(bl0 + w1 * bd1 + w2 * bd2);
            ++writes;
          }
        } else if (entered) {
          break;  // a triangle's row span is convex: nothing further right
        }
        e0 += stepx0;
        e1 += stepx1;
        e2 += stepx2;
      }
      row0 += stepy0;
      row1 += stepy1;
      row2 += stepy2;
    }
  }
  return writes;
}

namespace {

// One row of the small render sampled at the region's columns [c_begin, c_end):
// the premultiplied r, g, b in `rgb` and the coverage, repeated for each of the
// three channels, in `cov` (3 floats a column each; see blend_scaled).
void sample_row(const uint8_t* row, const float* depth, int64_t sw, int64_t c_begin,
                int64_t c_end, const int32_t* columns, const float* fx, float* rgb, float* cov) {
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t c = c_begin; c < c_end; ++c) {
    const int64_t i0 = columns[c];
    const int64_t i1 = i0 + 1 < sw ? i0 + 1 : i0;
    const float a0 = depth[i0] < inf ? 1.0f - fx[c] : 0.0f;
    const float a1 = depth[i1] < inf ? fx[c] : 0.0f;
    const uint8_t* p0 = row + 3 * i0;
    const uint8_t* p1 = row + 3 * i1;
    for (int k = 0; k < 3; ++k) {
      rgb[3 * c + k] = a0 * p0[k] + a1 * p1[k];
      cov[3 * c + k] = a0 + a1;
    }
  }
}

// Small-image sample position of region pixel k: index and weight of the next.
inline void sample_at(int64_t k, float scale, int64_t size, int64_t* index, float* frac) {
  const float x = (static_cast<float>(k) + 0.5f) * scale - 0.5f;
  if (!(x > 0.0f)) {
    *index = 0;
    *frac = 0.0f;
    return;
  }
  const int64_t i = static_cast<int64_t>(x);  // floor: x > 0
  if (i >= size - 1) {
    *index = size - 1;
    *frac = 0.0f;
  } else {
    *index = i;
    *frac = x - static_cast<float>(i);
  }
}

}  // namespace

void blend_scaled(const uint8_t* small, const float* small_depth, int64_t sh, int64_t sw,
                  float scale, float alpha, uint8_t* out, int64_t h, int64_t w,
                  int64_t out_stride, float* work, int32_t* columns, int32_t* spans) {
  if (h <= 0 || w <= 0 || sh <= 0 || sw <= 0) return;
  const int64_t n = 3 * w;  // bytes of a region row
  const float inf = std::numeric_limits<float>::infinity();
  float* fx = work;
  float* rgb[2] = {work + w, work + w + 2 * n};
  float* cov[2] = {work + w + n, work + w + 3 * n};
  int64_t held[2] = {-1, -1};  // the small row each buffer pair holds
  for (int64_t c = 0; c < w; ++c) {
    int64_t i;
    sample_at(c, scale, sw, &i, fx + c);
    columns[c] = static_cast<int32_t>(i);
  }
  // Per small row, the region columns its samples can reach: those whose left sample
  // column lies in [first covered - 1, last covered] (columns[] never decreases); every
  // other column samples two uncovered pixels of that row. Empty: [w, 0), so that the
  // union of two rows' spans is [min of the begins, max of the ends) either way.
  for (int64_t j = 0; j < sh; ++j) {
    const float* d = small_depth + sw * j;
    int64_t first = 0, last = sw - 1;
    while (first < sw && !(d[first] < inf)) ++first;
    while (last >= first && !(d[last] < inf)) --last;
    int64_t b = w, e = 0;
    if (first <= last) {
      b = std::lower_bound(columns, columns + w, static_cast<int32_t>(first - 1)) - columns;
      e = std::upper_bound(columns, columns + w, static_cast<int32_t>(last)) - columns;
    }
    spans[2 * j] = static_cast<int32_t>(b);
    spans[2 * j + 1] = static_cast<int32_t>(e);
  }
  for (int64_t r = 0; r < h; ++r) {
    int64_t j0;
    float fy;
    sample_at(r, scale, sh, &j0, &fy);
    const int64_t j1 = j0 + 1 < sh ? j0 + 1 : j0;
    // the columns either row reaches; outside them q == 0 and the pixels stay as they are
    const int64_t c_begin = std::min(spans[2 * j0], spans[2 * j1]);
    const int64_t c_end = std::max(spans[2 * j0 + 1], spans[2 * j1 + 1]);
    if (c_begin >= c_end) continue;
    int slots[2];
    for (int k = 0; k < 2; ++k) {
      const int64_t j = k == 0 ? j0 : j1;
      const int slot = static_cast<int>(j & 1);  // j0 and j0 + 1 never share one
      if (held[slot] != j) {  // zeros where this row reaches nothing, samples where it does
        std::fill(rgb[slot], rgb[slot] + n, 0.0f);
        std::fill(cov[slot], cov[slot] + n, 0.0f);
        sample_row(small + 3 * sw * j, small_depth + sw * j, sw, spans[2 * j],
                   spans[2 * j + 1], columns, fx, rgb[slot], cov[slot]);
        held[slot] = j;
      }
      slots[k] = slot;
    }
    // The row buffers never overlap the image: restrict lets the loop be vectorised
    // (a store through a uint8_t pointer may otherwise alias anything).
    const float* __restrict__ ca = rgb[slots[0]];
    const float* __restrict__ cb = rgb[slots[1]];
    const float* __restrict__ qa = cov[slots[0]];
    const float* __restrict__ qb = cov[slots[1]];
    const float wa = 1.0f - fy, wb = fy;
    uint8_t* __restrict__ o = out + r * out_stride;
    // No branch on coverage: where q == 0 the value is o itself, rounded to o.
    for (int64_t k = 3 * c_begin; k < 3 * c_end; ++k) {
      const float q = wa * qa[k] + wb * qb[k];
      float v = (1.0f - alpha * q) * static_cast<float>(o[k]) + alpha * (wa * ca[k] + wb * cb[k]);
      // v lies in [0, 255] up to rounding (P <= 255 q); the integer clamp keeps the result
      // a byte and, unlike a float one, lets the loop be vectorised
      int32_t iv = static_cast<int32_t>(v + 0.5f);
      iv = iv < 0 ? 0 : iv;
      iv = iv > 255 ? 255 : iv;
      o[k] = static_cast<uint8_t>(iv);
    }
  }
}

void face_mesh_frame(const MeshFrame& f, float* v, float* image, float* normals,
                     float* colors, double* vertices_m, float* work) {
  const int64_t n = f.nver;
  for (int64_t i = 0; i < 3 * n; ++i) v[i] += f.shape[i];  // step 1
  const float delta = (v[3 * f.mouth_a + 2] - v[3 * f.mouth_b + 2]) - f.mouth_ref;
  for (int k = 0; k < 2; ++k) {  // step 3: the eyeballs about their centres
    const float* r = f.eye_rot[k];
    const float* c = f.eye_centre[k];
    for (int64_t i = f.eye_begin[k]; i < f.eye_end[k]; ++i) {
      float* q = v + 3 * i;
      const float x = q[0] - c[0], y = q[1] - c[1], z = q[2] - c[2];
      q[0] = r[0] * x + r[1] * y + r[2] * z + c[0];
      q[1] = r[3] * x + r[4] * y + r[5] * z + c[1];
      q[2] = r[6] * x + r[7] * y + r[8] * z + c[2];
    }
  }
  for (int64_t i = f.mouth_begin; i < f.mouth_end; ++i) v[3 * i + 2] -= delta;  // step 4
  vertex_normals(v, n, f.triangles, f.ntri, work);
  const float* r = f.rot;
  const float* g = f.gamma;
  const float h0 = f.sh[0], a1c1 = f.sh[1], a2c2 = f.sh[2], a2c2d0 = f.sh[3];
  const double sx = (f.box[2] - f.box[0]) / f.crop_size;
  const double sy = (f.box[3] - f.box[1]) / f.crop_size;
  const double* mr = f.model_rot;
  for (int64_t i = 0; i < n; ++i) {
    const float* q = v + 3 * i;
    const float* m = work + 3 * i;
    float* nn = normals + 3 * i;
    const float nx = r[0] * m[0] + r[1] * m[1] + r[2] * m[2];
    const float ny = r[3] * m[0] + r[4] * m[1] + r[5] * m[2];
    const float nz = r[6] * m[0] + r[7] * m[1] + r[8] * m[2];
    nn[0] = nx;
    nn[1] = ny;
    nn[2] = nz;
    const float h[9] = {h0, -a1c1 * ny, a1c1 * nz, -a1c1 * nx, a2c2 * nx * ny,
                        -a2c2 * ny * nz, a2c2d0 * (3.0f * nz * nz - 1.0f),
                        -a2c2 * nx * nz, a2c2 * 0.5f * (nx * nx - ny * ny)};
    for (int ch = 0; ch < 3; ++ch) {
      float light = 0.0f;
      for (int k = 0; k < 9; ++k) light += h[k] * g[3 * k + ch];
      const float col = f.albedo[3 * i + ch] * light;
      colors[3 * i + ch] = col < 0.0f ? 0.0f : (col > 1.0f ? 1.0f : col);
    }
    const float px = r[0] * q[0] + r[1] * q[1] + r[2] * q[2] + f.trans[0];
    const float py = r[3] * q[0] + r[4] * q[1] + r[5] * q[2] + f.trans[1];
    const float pz = r[6] * q[0] + r[7] * q[1] + r[8] * q[2] + f.trans[2];
    const float zc = pz + f.camera_distance;
    const float inv = f.focal / zc;
    const float u = px * inv + f.principal;
    const float w = py * inv + f.principal;
    image[3 * i] = static_cast<float>(u * sx + f.box[0]);
    image[3 * i + 1] = static_cast<float>(w * sy + f.box[1]);
    image[3 * i + 2] = zc;
    const double x = q[0] * f.unit_m, y = q[1] * f.unit_m, z = q[2] * f.unit_m;
    for (int j = 0; j < 3; ++j)
      vertices_m[3 * i + j] = x * mr[3 * j] + y * mr[3 * j + 1] + z * mr[3 * j + 2] + f.model_trans[j];
  }
}

}  // namespace sim3dr
