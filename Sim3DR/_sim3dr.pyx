# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Sim3DR low-level binding (module ``faceverse_ros._sim3dr``).

Thin typed-memoryview wrappers around the C++ kernels of Sim3DR/rasterize.cpp.
Each function checks shapes and triangle indices (ValueError), then runs its
kernel with the GIL released.  Arrays must already have the exact dtype and be
C-contiguous: float32 for vertices, normals and colours, int32 for triangles,
uint8 for the image, float32 for the depth buffer (``faceverse_ros.views.render``
converts for you).  Frames: vertices are (x, y) image pixels with pixel
centres on integers (x right, y down) and z depth, smaller = nearer.

Functions:
    vertex_normals(vertices, triangles, out=None) -> (N, 3) float32 unit normals
    light(vertices, normals, colors, out=None, ambient=None, diffuse=None,
          specular=None, shininess=None, light_pos=None, view_pos=None)
        -> (N, 3) float32 lit colours (None = the spec-8 DEFAULT_LIGHT)
    rasterize(vertices, triangles, colors, image, depth, far=1e8) -> int
        number of pixel writes; draws into image (H, W, 3) uint8 and depth
        (H, W) float32 in place.
    blend_scaled(region, small, small_depth, scale, alpha) -> None
        scales a render drawn at ``scale`` small pixels per region pixel up
        onto ``region`` (a view of an image) and blends it there, in place.
    face_mesh_frame(v, shape, albedo, triangles, ...) -> (image, normals, colors,
        vertices_m): one face's per-frame mesh on a vertex subset (see its doc).
"""
from libc.stdint cimport int32_t, int64_t, uint8_t

import numpy as np


cdef extern from "rasterize.h" namespace "sim3dr" nogil:
    cdef float kGuardBand
    cdef int64_t kMaxImageSide

    cdef cppclass LightParams:
        float ambient
        float diffuse
        float specular
        float shininess
        float light_pos[3]
        float view_pos[3]

    int64_t find_bad_triangle(const int32_t* triangles, int64_t ntri, int64_t nver)
    void c_vertex_normals "sim3dr::vertex_normals"(
        const float* vertices, int64_t nver, const int32_t* triangles, int64_t ntri,
        float* out)
    void c_light_colors "sim3dr::light_colors"(
        const float* vertices, const float* normals, const float* colors,
        int64_t nver, const LightParams& params, float* out)
    int64_t c_rasterize "sim3dr::rasterize"(
        const float* vertices, int64_t nver, const int32_t* triangles, int64_t ntri,
        const float* colors, uint8_t* image, float* depth, int64_t height,
        int64_t width, float far)
    cdef cppclass MeshFrame:
        int64_t nver
        const float* shape
        const float* albedo
        const int32_t* triangles
        int64_t ntri
        int64_t mouth_a, mouth_b
        float mouth_ref
        int64_t mouth_begin, mouth_end
        int64_t eye_begin[2]
        int64_t eye_end[2]
        float eye_rot[2][9]
        float eye_centre[2][3]
        float rot[9]
        float trans[3]
        float gamma[27]
        float sh[4]
        float focal, principal, camera_distance
        double box[4]
        double crop_size
        double model_rot[9]
        double model_trans[3]
        double unit_m

    void c_face_mesh_frame "sim3dr::face_mesh_frame"(
        const MeshFrame& f, float* v, float* image, float* normals, float* colors,
        double* vertices_m, float* work)
    void c_blend_scaled "sim3dr::blend_scaled"(
        const uint8_t* small, const float* small_depth, int64_t sh, int64_t sw,
        float scale, float alpha, uint8_t* out, int64_t h, int64_t w,
        int64_t out_stride, float* work, int32_t* columns, int32_t* spans)


GUARD_BAND = float(kGuardBand)
"""Triangles with a vertex whose |x| or |y| exceeds this many pixels are skipped."""
MAX_IMAGE_SIDE = int(kMaxImageSide)


cdef inline const float* _fptr(const float[:, ::1] a):
    return &a[0, 0] if a.shape[0] > 0 else NULL


cdef inline float* _wptr(float[:, ::1] a):
    return &a[0, 0] if a.shape[0] > 0 else NULL


cdef inline const int32_t* _iptr(const int32_t[:, ::1] a):
    return &a[0, 0] if a.shape[0] > 0 else NULL


cdef _check_rows3(name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t expected_rows):
    if cols != 3:
        raise ValueError(f"{name} must have shape (N, 3), got (..., {cols})")
    if expected_rows >= 0 and rows != expected_rows:
        raise ValueError(
            f"{name} has {rows} rows but the mesh has {expected_rows} vertices")


cdef _check_triangles(const int32_t[:, ::1] triangles, Py_ssize_t nver):
    if triangles.shape[1] != 3:
        raise ValueError(
            f"triangles must have shape (T, 3), got (..., {triangles.shape[1]})")
    cdef int64_t bad
    cdef const int32_t* tri = _iptr(triangles)
    cdef int64_t ntri = triangles.shape[0]
    with nogil:
        bad = find_bad_triangle(tri, ntri, nver)
    if bad >= 0:
        raise ValueError(
            f"triangle {bad} has vertex indices {list(triangles[bad])} outside "
            f"[0, {nver}) (the mesh has {nver} vertices)")


def vertex_normals(const float[:, ::1] vertices not None,
                   const int32_t[:, ::1] triangles not None,
                   float[:, ::1] out=None):
    """Unit vertex normals of a triangle mesh, float32 (N, 3).

    Each vertex gets the normalised sum of the area-weighted face normals
    (b - a) x (c - a) of its triangles (a, b, c), in the frame and units of
    ``vertices``; with y down and z away from the camera, triangles that look
    counter-clockwise in the image get normals towards -z (the camera).
    Faces with non-finite normals are left out; vertices with no usable face
    get (0, 0, 0).  ``out``: optional preallocated float32 (N, 3) result.
    """
    cdef Py_ssize_t nver = vertices.shape[0]
    _check_rows3("vertices", nver, vertices.shape[1], -1)
    _check_triangles(triangles, nver)
    if out is None:
        out = np.empty((nver, 3), dtype=np.float32)
    else:
        _check_rows3("out", out.shape[0], out.shape[1], nver)
    cdef const float* v = _fptr(vertices)
    cdef const int32_t* tri = _iptr(triangles)
    cdef float* o = _wptr(out)
    cdef int64_t ntri = triangles.shape[0]
    with nogil:
        c_vertex_normals(v, nver, tri, ntri, o)
    return out.base if out.base is not None else np.asarray(out)


def _default_light():
    cdef LightParams p
    return dict(ambient=p.ambient, diffuse=p.diffuse, specular=p.specular,
                shininess=p.shininess, light_pos=tuple(p.light_pos[k] for k in range(3)),
                view_pos=tuple(p.view_pos[k] for k in range(3)))


DEFAULT_LIGHT = _default_light()
"""The spec-8 light settings (the C++ LightParams defaults), used by light()."""


def light(const float[:, ::1] vertices not None,
          const float[:, ::1] normals not None,
          const float[:, ::1] colors not None,
          float[:, ::1] out=None, ambient=None, diffuse=None, specular=None,
          shininess=None, light_pos=None, view_pos=None):
    """Per-vertex Phong-style lighting of colours, float32 (N, 3).

    Positions are rescaled to about [-1, 1] (centre of the finite vertices'
    bounding box at 0, longest side spanning [-1, 1]); with l and e the unit
    vectors from the rescaled vertex to ``light_pos`` and ``view_pos`` (in
    that rescaled frame) and k = n.l:
    f = clip(ambient + diffuse*clip(k, 0, 1)
             + specular*clip(e.(2kn - l), 0, 1)**shininess [only if k > 0], 0, 1)
    and the result is colors * f.  Settings left as None take the spec-8
    values of ``DEFAULT_LIGHT`` (ambient 0.3, diffuse 0.8, specular 0.1,
    shininess 5, light and view at (0, 0, -5)).  ``out`` may be ``colors``.
    """
    cdef Py_ssize_t nver = vertices.shape[0]
    _check_rows3("vertices", nver, vertices.shape[1], -1)
    _check_rows3("normals", normals.shape[0], normals.shape[1], nver)
    _check_rows3("colors", colors.shape[0], colors.shape[1], nver)
    if out is None:
        out = np.empty((nver, 3), dtype=np.float32)
    else:
        _check_rows3("out", out.shape[0], out.shape[1], nver)
    cdef LightParams params  # spec-8 defaults from rasterize.h
    if ambient is not None:
        params.ambient = ambient
    if diffuse is not None:
        params.diffuse = diffuse
    if specular is not None:
        params.specular = specular
    if shininess is not None:
        params.shininess = shininess
    cdef int k
    for name, pos in (("light_pos", light_pos), ("view_pos", view_pos)):
        if pos is None:
            continue
        values = [float(x) for x in pos]
        if len(values) != 3:
            raise ValueError(f"{name} must have 3 values, got {len(values)}")
        for k in range(3):
            if name == "light_pos":
                params.light_pos[k] = values[k]
            else:
                params.view_pos[k] = values[k]
    cdef const float* v = _fptr(vertices)
    cdef const float* n = _fptr(normals)
    cdef const float* c = _fptr(colors)
    cdef float* o = _wptr(out)
    with nogil:
        c_light_colors(v, n, c, nver, params, o)
    return out.base if out.base is not None else np.asarray(out)


def rasterize(const float[:, ::1] vertices not None,
              const int32_t[:, ::1] triangles not None,
              const float[:, ::1] colors not None,
              uint8_t[:, :, ::1] image not None,
              float[:, ::1] depth not None,
              float far=1e8):
    """Z-buffer rasterise coloured triangles into ``image`` and ``depth`` in place.

    image: (H, W, 3) uint8, depth: (H, W) float32, both C-contiguous and
    initialised by the caller (depth to +inf or 1e8).  A pixel (row r, col c)
    is drawn when its centre (x=c, y=r) is inside the triangle (x, y snapped
    to 1/256 px, top-left fill rule on exact edges), the screen-space linear
    depth z < depth[r, c] and z < ``far``; it then gets z and the
    barycentric colour round(255*clip(c, 0, 1)).  Both windings are drawn;
    zero-area triangles and triangles with a non-finite coordinate or |x| or
    |y| > GUARD_BAND are skipped.  Returns the number of pixel writes.
    """
    cdef Py_ssize_t nver = vertices.shape[0]
    _check_rows3("vertices", nver, vertices.shape[1], -1)
    _check_rows3("colors", colors.shape[0], colors.shape[1], nver)
    if image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got ({image.shape[0]}, {image.shape[1]}, {image.shape[2]})")
    cdef int64_t height = image.shape[0]
    cdef int64_t width = image.shape[1]
    if depth.shape[0] != height or depth.shape[1] != width:
        raise ValueError(
            f"depth has shape ({depth.shape[0]}, {depth.shape[1]}) but image is {height}x{width}")
    if height > kMaxImageSide or width > kMaxImageSide:
        raise ValueError(f"image sides must be at most {kMaxImageSide} pixels")
    _check_triangles(triangles, nver)
    if height == 0 or width == 0 or triangles.shape[0] == 0:
        return 0
    cdef const float* v = _fptr(vertices)
    cdef const int32_t* tri = _iptr(triangles)
    cdef const float* c = _fptr(colors)
    cdef uint8_t* img = &image[0, 0, 0]
    cdef float* z = &depth[0, 0]
    cdef int64_t ntri = triangles.shape[0]
    cdef int64_t writes
    with nogil:
        writes = c_rasterize(v, nver, tri, ntri, c, img, z, height, width, far)
    return writes


def blend_scaled(uint8_t[:, :, :] region not None,
                 const uint8_t[:, :, ::1] small not None,
                 const float[:, ::1] small_depth not None,
                 float scale, float alpha):
    """Scale a render up onto ``region`` and blend it there, in place.

    region: (h, w, 3) uint8 with its pixels' 3 bytes adjacent (a box of a
    C-contiguous image is fine; its rows may lie further apart).
    small: (sh, sw, 3) uint8 render drawn at ``scale`` small pixels per region
    pixel (0 < scale <= 1; 1 = the same size), small_depth: (sh, sw) float32
    its depth (+inf where nothing was drawn).  Region pixel (row r, col c)
    takes the bilinear sample at x = (c + 0.5) * scale - 0.5,
    y = (r + 0.5) * scale - 0.5 of the small render premultiplied by its
    coverage: with q the sampled coverage in [0, 1] and P the sampled
    covered colour, it becomes round(region * (1 - alpha * q) + alpha * P)
    where q > 0 and stays as it is elsewhere.
    """
    if small.shape[2] != 3:
        raise ValueError(f"small must have shape (H, W, 3), got (..., {small.shape[2]})")
    if small_depth.shape[0] != small.shape[0] or small_depth.shape[1] != small.shape[1]:
        raise ValueError(
            f"small_depth has shape ({small_depth.shape[0]}, {small_depth.shape[1]}) "
            f"but small is {small.shape[0]}x{small.shape[1]}")
    if region.shape[2] != 3 or region.strides[2] != 1 or (
            region.shape[1] > 1 and region.strides[1] != 3):
        raise ValueError("region must be (h, w, 3) uint8 with adjacent pixels")
    if not (0.0 < scale <= 1.0):
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if not (0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    cdef int64_t h = region.shape[0]
    cdef int64_t w = region.shape[1]
    cdef int64_t sh = small.shape[0]
    cdef int64_t sw = small.shape[1]
    if h == 0 or w == 0 or sh == 0 or sw == 0:
        return None
    cdef float[::1] work = np.empty(13 * w, dtype=np.float32)
    cdef int32_t[::1] columns = np.empty(w, dtype=np.int32)
    cdef int32_t[::1] spans = np.empty(2 * sh, dtype=np.int32)
    cdef const uint8_t* s = &small[0, 0, 0]
    cdef const float* d = &small_depth[0, 0]
    cdef uint8_t* o = &region[0, 0, 0]
    cdef int64_t stride = region.strides[0]
    with nogil:
        c_blend_scaled(s, d, sh, sw, scale, alpha, o, h, w, stride, &work[0], &columns[0],
                       &spans[0])
    return None


def face_mesh_frame(float[:, ::1] v not None, const float[:, ::1] shape not None,
                    const float[:, ::1] albedo not None,
                    const int32_t[:, ::1] triangles not None,
                    mouth, eyes, const float[:, :, ::1] eye_rot not None,
                    const float[:, ::1] eye_centre not None,
                    const float[:, ::1] rot not None, const float[::1] trans not None,
                    const float[::1] gamma not None, sh, box,
                    const double[:, ::1] model_rot not None,
                    const double[::1] model_trans not None, double unit_m,
                    float focal, float principal, float camera_distance, double crop_size):
    """One face's per-frame mesh on a vertex subset, in one pass without the GIL
    (Sim3DR/rasterize.h: face_mesh_frame has the formulas).

    v: (N, 3) float32, the expression offsets on entry, the articulated unposed
    shape on return; shape, albedo: (N, 3) identity shape and albedo; triangles:
    (T, 3) int32 into the N vertices; mouth: (a, b, mouth_ref, begin, end), the
    mouth closing's two reference rows and the rows it moves; eyes: ((begin, end),
    (begin, end)) the left and right eyeball rows; eye_rot (2, 3, 3) and eye_centre
    (2, 3) their rotations and centres; rot (3, 3), trans (3,) the head pose; gamma
    (27,) the SH lighting with the ambient added; sh the 4 SH factors (a0 c0, a1 c1,
    a2 c2, a2 c2 d0: core.projection.SH_FACTORS); box (x0, y0, x1, y1) the crop box
    (image px); model_rot (3, 3), model_trans (3,) float64 and unit_m: unposed model
    units -> optical-frame metres; focal, principal, camera_distance, crop_size: the
    crop camera. Returns (image (N, 3) float32 px + depth, normals (N, 3) float32
    rotated, colors (N, 3) float32 lit, vertices_m (N, 3) float64).
    """
    cdef Py_ssize_t n = v.shape[0]
    _check_rows3("v", n, v.shape[1], -1)
    _check_rows3("shape", shape.shape[0], shape.shape[1], n)
    _check_rows3("albedo", albedo.shape[0], albedo.shape[1], n)
    _check_triangles(triangles, n)
    if eye_rot.shape[0] != 2 or eye_rot.shape[1] != 3 or eye_rot.shape[2] != 3:
        raise ValueError("eye_rot must have shape (2, 3, 3)")
    if eye_centre.shape[0] != 2 or eye_centre.shape[1] != 3:
        raise ValueError("eye_centre must have shape (2, 3)")
    if rot.shape[0] != 3 or rot.shape[1] != 3 or model_rot.shape[0] != 3 or model_rot.shape[1] != 3:
        raise ValueError("rot and model_rot must have shape (3, 3)")
    if trans.shape[0] != 3 or model_trans.shape[0] != 3 or gamma.shape[0] != 27:
        raise ValueError("trans and model_trans must have 3 values, gamma 27")
    if n == 0:
        raise ValueError("the mesh has no vertices")
    cdef MeshFrame f
    cdef int64_t a, b
    a, b, mouth_ref, mb, me = mouth
    rows = [(int(mb), int(me)), (int(eyes[0][0]), int(eyes[0][1])),
            (int(eyes[1][0]), int(eyes[1][1]))]
    if not (0 <= a < n and 0 <= b < n) or any(not 0 <= lo <= hi <= n for lo, hi in rows):
        raise ValueError(f"mouth and eye rows must lie in [0, {n})")
    f.nver = n
    f.shape = &shape[0, 0]
    f.albedo = &albedo[0, 0]
    f.triangles = _iptr(triangles)
    f.ntri = triangles.shape[0]
    f.mouth_a, f.mouth_b, f.mouth_ref = a, b, mouth_ref
    f.mouth_begin, f.mouth_end = rows[0]
    cdef int k, j
    for k in range(2):
        f.eye_begin[k], f.eye_end[k] = rows[1 + k]
        for j in range(9):
            f.eye_rot[k][j] = eye_rot[k, j // 3, j % 3]
        for j in range(3):
            f.eye_centre[k][j] = eye_centre[k, j]
    for j in range(9):
        f.rot[j] = rot[j // 3, j % 3]
        f.model_rot[j] = model_rot[j // 3, j % 3]
    for j in range(3):
        f.trans[j] = trans[j]
        f.model_trans[j] = model_trans[j]
    for j in range(27):
        f.gamma[j] = gamma[j]
    if len(sh) != 4:
        raise ValueError("sh must have 4 values")
    for j in range(4):
        f.box[j] = float(box[j])
        f.sh[j] = float(sh[j])
    f.crop_size, f.unit_m = crop_size, unit_m
    f.focal, f.principal, f.camera_distance = focal, principal, camera_distance
    image = np.empty((n, 3), dtype=np.float32)
    normals = np.empty((n, 3), dtype=np.float32)
    colors = np.empty((n, 3), dtype=np.float32)
    vertices_m = np.empty((n, 3), dtype=np.float64)
    work = np.empty((n, 3), dtype=np.float32)
    cdef float[:, ::1] im = image, nn = normals, co = colors, wk = work
    cdef double[:, ::1] vm = vertices_m
    with nogil:
        c_face_mesh_frame(f, &v[0, 0], &im[0, 0], &nn[0, 0], &co[0, 0], &vm[0, 0], &wk[0, 0])
    return image, normals, colors, vertices_m
