"""The regressor crop (spec 5): box numbers, black padding, bilinear resize, and the true
box in original image coordinates at every border (the original's left/top defect fixed)."""
import numpy as np
import pytest

from faceverse_ros.core.crop import crop_box_from_square, crop_face, crop_faces
from faceverse_ros.core.projection import to_image


def test_crop_box_numbers():
    # centre (100, 100), L = 100: x0 = 100 - 65, y0 = 100 - 70, x1 = 100 + 65, y1 = 100 + 60
    assert crop_box_from_square([50, 50, 150, 150]).tolist() == [35, 30, 165, 160]
    # centre (60.5, 70.25), L = 100: -4.5 -> -4 (toward zero), 0.25 -> 0, 125.5 -> 125, 130.25 -> 130
    assert crop_box_from_square([10.5, 20.25, 110.5, 120.25]).tolist() == [-4, 0, 125, 130]
    # a non-square box is squared with its longer side: w = 40, h = 100 around (20, 50)
    assert crop_box_from_square([0, 0, 40, 100]).tolist() == [-45, -20, 85, 110]
    with pytest.raises(ValueError):
        crop_box_from_square([10, 10, 5, 20])
    with pytest.raises(ValueError):
        crop_box_from_square([0, 0, np.nan, 10])


def expected_bilinear_step(lo_level, hi_level, edge, start, length, n=256):
    """Bilinear (pixel-centre aligned) resize of a step at `edge` along one axis, by formula."""
    j = np.arange(n)
    src = start + (j + 0.5) * length / n - 0.5
    src = np.clip(src, start, start + length - 1)
    frac = np.clip(src - (edge - 1), 0, 1)
    return lo_level + (hi_level - lo_level) * frac


def test_interior_crop_is_a_bilinear_resize():
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :, 0] = np.where(np.arange(64)[None, :] < 30, 64, 192)
    img[:, :, 1] = np.where(np.arange(64)[:, None] < 30, 64, 192)
    img[:, :, 2] = 7
    crop, box = crop_face(img, [12, 14, 52, 54])
    assert box.tolist() == [6, 6, 58, 58]
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
    ex = expected_bilinear_step(64, 192, 30, 6, 52)
    assert np.abs(crop[100, :, 0].astype(float) - ex).max() <= 1.0
    assert np.abs(crop[:, 100, 1].astype(float) - ex).max() <= 1.0
    # nearest neighbour would jump 64 -> 192 in one column; bilinear passes through the middle
    assert np.any((crop[100, :, 0] > 90) & (crop[100, :, 0] < 166))
    assert np.all(crop[..., 2] == 7)


def dot_image(h, w, x, y, background=100):
    img = np.full((h, w, 3), background, np.uint8)
    img[y - 1:y + 2, x - 1:x + 2] = 255
    return img


def locate_dot(crop):
    mask = crop[..., 0].astype(float) > 180
    assert mask.any(), "dot not in the crop"
    w = crop[..., 0].astype(float) * mask
    ys, xs = np.mgrid[0:crop.shape[0], 0:crop.shape[1]]
    return np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])


@pytest.mark.parametrize("square, dot", [
    ([0, 0, 60, 60], (20, 15)),          # crosses the left and top borders
    ([150, 150, 210, 210], (185, 190)),  # crosses the right and bottom borders
    ([70, 70, 130, 130], (100, 95)),     # inside
    ([-20, 80, 40, 140], (8, 100)),      # starts left of the image
])
def test_true_box_maps_crop_pixels_back_to_the_image(square, dot):
    img = dot_image(200, 200, *dot)
    crop, box = crop_face(img, square)
    uv = locate_dot(crop)
    back = to_image(np.array([[uv[0], uv[1], 10.0]]), box)[0, :2]
    assert np.abs(back - np.array(dot)).max() < 1.0, (back, dot, box)


def test_black_padding_where_the_box_leaves_the_image():
    img = np.full((200, 200, 3), 100, np.uint8)
    crop, box = crop_face(img, [0, 0, 60, 60])
    x0, y0, x1, y1 = box.tolist()
    assert (x0, y0) == (-9, -12)
    # crop column j samples image x = x0 + (j + 0.5) * w / 256 - 0.5: left of x = -1 is pure padding
    cols = np.arange(256)
    src_x = x0 + (cols + 0.5) * (x1 - x0) / 256 - 0.5
    src_y = y0 + (cols + 0.5) * (y1 - y0) / 256 - 0.5
    assert np.all(crop[:, src_x < -1] == 0) and np.all(crop[src_y < -1, :] == 0)
    assert np.all(crop[np.ix_(src_y > 0.5, src_x > 0.5)] == 100)
    crop, box = crop_face(img, [150, 150, 210, 210])
    src_x = box[0] + (cols + 0.5) * (box[2] - box[0]) / 256 - 0.5
    assert np.all(crop[:, src_x > 200] == 0)
    assert np.all(crop[:100, src_x < 198] == 100)


def test_box_outside_the_image_gives_a_black_crop():
    crop, box = crop_face(np.full((50, 50, 3), 100, np.uint8), [300, 300, 340, 340])
    assert np.all(crop == 0) and box[0] > 50


def test_bad_inputs():
    img = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        crop_face(img.astype(np.float32), [0, 0, 10, 10])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        crop_face(img[..., 0], [0, 0, 10, 10])
    with pytest.raises(ValueError, match="x1 > x0"):
        crop_face(img, [10, 10, 10, 20])


def test_batched_crops_equal_single_crops():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 70, 70], [-10, 50, 40, 100], [100, 60, 170, 130]], float)
    crops, out = crop_faces(img, boxes)
    for i, b in enumerate(boxes):
        c, bb = crop_face(img, b)
        assert np.array_equal(c, crops[i]) and np.array_equal(bb, out[i])
