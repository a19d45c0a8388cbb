//! Pixel geometry of the maps: frames, the projection of an inset or frame (equirectangular,
//! fitted to the frame), rings cut to a frame, and where a ring's label goes.

use crate::geo::Ring;

/// A rectangle of the image, pixels.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// An equirectangular projection (longitudes shrunk by the cosine of the middle latitude),
/// fitted to a frame and centred in it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Projection {
    middle: (f64, f64),
    shrink: f64,
    scale: f64,
    centre: (f64, f64),
}

impl Projection {
    /// The projection fitting some rings into a frame, with `margin` (a share of the frame)
    /// left free around them.
    pub fn fit<'r>(rings: impl Iterator<Item = &'r Ring>, frame: Frame, margin: f64) -> Option<Projection> {
        let mut bounds: Option<(f64, f64, f64, f64)> = None;
        for &(lon, lat) in rings.flat_map(|r| &r.points) {
            let (w, e, s, n) = bounds.unwrap_or((lon, lon, lat, lat));
            bounds = Some((w.min(lon), e.max(lon), s.min(lat), n.max(lat)));
        }
        Some(Projection::fit_bounds(bounds?, frame, margin))
    }

    /// The projection fitting (west, east, south, north) into a frame.
    pub fn fit_bounds((w, e, s, n): (f64, f64, f64, f64), frame: Frame, margin: f64) -> Projection {
        let middle = (f64::midpoint(w, e), f64::midpoint(s, n));
        let shrink = middle.1.to_radians().cos();
        let (width, height) = (((e - w) * shrink).max(1e-3), (n - s).max(1e-3));
        let scale = (frame.w * (1.0 - 2.0 * margin) / width).min(frame.h * (1.0 - 2.0 * margin) / height);
        Projection { middle, shrink, scale, centre: (frame.x + frame.w / 2.0, frame.y + frame.h / 2.0) }
    }

    /// A ring in pixels, points less than ~1.4 px from the previous one dropped.
    #[allow(clippy::cast_possible_truncation)] // pixels of a bounded image
    pub fn pixels(&self, ring: &Ring) -> Vec<(i32, i32)> {
        let mut out: Vec<(i32, i32)> = Vec::with_capacity(ring.points.len());
        for &(lon, lat) in &ring.points {
            let x = self.centre.0 + (lon - self.middle.0) * self.shrink * self.scale;
            let y = self.centre.1 - (lat - self.middle.1) * self.scale;
            let p = (x.round() as i32, y.round() as i32);
            if out.last().is_none_or(|&(a, b)| (a - p.0).pow(2) + (b - p.1).pow(2) >= 2) {
                out.push(p);
            }
        }
        out
    }
}

/// One edge of a frame: the coordinate it limits, its value, whether the inside is above it.
type Edge = (fn((f64, f64)) -> f64, f64, bool);

/// A ring of pixels cut to a frame (Sutherland–Hodgman, one edge of the frame at a time).
pub(super) fn clip(ring: &[(i32, i32)], frame: Frame) -> Vec<(i32, i32)> {
    let mut points: Vec<(f64, f64)> = ring.iter().map(|&(x, y)| (f64::from(x), f64::from(y))).collect();
    let edges: [Edge; 4] =
        [(|p| p.0, frame.x, true), (|p| p.0, frame.x + frame.w, false), (|p| p.1, frame.y, true), (|p| p.1, frame.y + frame.h, false)];
    for (coordinate, limit, above) in edges {
        let inside = |p: (f64, f64)| if above { coordinate(p) >= limit } else { coordinate(p) <= limit };
        let mut out = Vec::with_capacity(points.len());
        for (i, &b) in points.iter().enumerate() {
            let a = points[(i + points.len() - 1) % points.len()];
            if inside(b) != inside(a) {
                let t = (limit - coordinate(a)) / (coordinate(b) - coordinate(a));
                out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
            }
            if inside(b) {
                out.push(b);
            }
        }
        points = out;
    }
    #[allow(clippy::cast_possible_truncation)] // pixels
    let mut pixels: Vec<(i32, i32)> = points.iter().map(|&(x, y)| (x.round() as i32, y.round() as i32)).collect();
    pixels.dedup();
    pixels
}

/// Where a ring's label goes: the middle of the widest stretch of its inside along the
/// horizontal line through its middle (inside the ring, even for a crescent).
pub(super) fn label_point(ring: &[(i32, i32)]) -> Option<(i32, i32)> {
    let (top, bottom) = (ring.iter().map(|p| p.1).min()?, ring.iter().map(|p| p.1).max()?);
    let y = f64::from(top + bottom) / 2.0 + 0.5;
    let mut xs: Vec<f64> = Vec::new();
    for (i, &(ax, ay)) in ring.iter().enumerate() {
        let (bx, by) = ring[(i + 1) % ring.len()];
        let (ay, by) = (f64::from(ay), f64::from(by));
        if (ay < y) != (by < y) {
            xs.push(f64::from(ax) + (y - ay) / (by - ay) * f64::from(bx - ax));
        }
    }
    xs.sort_by(f64::total_cmp);
    let widest = xs.chunks_exact(2).max_by(|a, b| (a[1] - a[0]).total_cmp(&(b[1] - b[0])))?;
    #[allow(clippy::cast_possible_truncation)] // pixels
    Some((f64::midpoint(widest[0], widest[1]).round() as i32, y as i32))
}

/// Whether a ring of pixels reaches into a frame (by their bounds).
pub(super) fn overlaps(ring: &[(i32, i32)], frame: Frame) -> bool {
    let (x0, y0, x1, y1) = (frame.x, frame.y, frame.x + frame.w, frame.y + frame.h);
    let inside_x = ring.iter().any(|p| f64::from(p.0) >= x0) && ring.iter().any(|p| f64::from(p.0) <= x1);
    let inside_y = ring.iter().any(|p| f64::from(p.1) >= y0) && ring.iter().any(|p| f64::from(p.1) <= y1);
    inside_x && inside_y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_cut_to_their_frame_and_labelled_inside() {
        let frame = Frame { x: 0.0, y: 0.0, w: 10.0, h: 10.0 };
        let cut = clip(&[(-5, -5), (5, -5), (5, 5), (-5, 5)], frame);
        assert!(cut.iter().all(|&(x, y)| (0..=5).contains(&x) && (0..=5).contains(&y)), "{cut:?}");
        assert!(overlaps(&cut, frame) && !overlaps(&[(20, 20), (30, 20), (30, 30)], frame));
        // A crescent: the label goes in its wider horn, not in the hollow.
        let crescent = [(0, 0), (10, 0), (10, 2), (2, 2), (2, 8), (10, 8), (10, 10), (0, 10)];
        assert_eq!(label_point(&crescent), Some((1, 5)));
    }
}
