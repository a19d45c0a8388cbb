//! Chart images as PNG on request: the SVG that `plotters` draws is rasterized with `resvg`,
//! with the `DejaVu Sans` font shipped in the crate (`assets/fonts`, Bitstream Vera licence), so a
//! PNG has the same labels on a server without any font installed.

use std::sync::{Arc, LazyLock};

use resvg::tiny_skia::{Color, Pixmap, Transform};
use resvg::usvg::{self, fontdb};

/// The font every chart label is drawn with.
const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Largest side of a PNG, in pixels (a guard against absurd sizes in an SVG).
const MAX_SIDE: u32 = 4_000;

static FONTS: LazyLock<Arc<fontdb::Database>> = LazyLock::new(|| {
    let mut fonts = fontdb::Database::new();
    fonts.load_font_data(FONT.to_vec());
    let family = "DejaVu Sans";
    fonts.set_sans_serif_family(family);
    fonts.set_serif_family(family);
    fonts.set_monospace_family(family);
    Arc::new(fonts)
});

/// Why an SVG could not be turned into a PNG.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// The SVG does not parse.
    #[error("SVG: {0}")]
    Svg(#[from] usvg::Error),
    /// Empty or oversized image.
    #[error("image of {0}×{1} pixels cannot be drawn")]
    Size(u32, u32),
    /// PNG encoding.
    #[error("PNG: {0}")]
    Encode(String),
}

/// The SVG drawn on a white background, at `scale` times its own size, as PNG bytes.
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, PngError> {
    let options = usvg::Options { fontdb: Arc::clone(&FONTS), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &options)?;
    let size = tree.size().to_int_size().scale_by(scale).ok_or(PngError::Size(0, 0))?;
    let (width, height) = (size.width(), size.height());
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(PngError::Size(width, height));
    }
    let mut pixmap = Pixmap::new(width, height).ok_or(PngError::Size(width, height))?;
    pixmap.fill(Color::WHITE);
    resvg::render(&tree, Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| PngError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect x="10" y="10" width="80" height="40" fill="#1f4e79"/><text x="100" y="80" font-family="sans-serif" font-size="20">Élèves</text></svg>"##;

    fn pixels(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let pixmap = Pixmap::decode_png(png).unwrap();
        (pixmap.width(), pixmap.height(), pixmap.data().to_vec())
    }

    #[test]
    fn charts_become_pngs_with_their_shapes_and_labels() {
        let png = svg_to_png(SVG, 1.0).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let (width, height, data) = pixels(&png);
        assert_eq!((width, height), (200, 100));
        let at = |x: usize, y: usize| &data[(y * 200 + x) * 4..(y * 200 + x) * 4 + 3];
        assert_eq!(at(50, 30), [0x1f, 0x4e, 0x79], "the rectangle is drawn");
        assert_eq!(at(5, 95), [255, 255, 255], "on white");
        let dark_label_pixels = (100..200).flat_map(|x| (60..100).map(move |y| (x, y))).filter(|&(x, y)| at(x, y)[0] < 128).count();
        assert!(dark_label_pixels > 50, "the label is drawn with the shipped font ({dark_label_pixels} dark pixels)");
    }

    #[test]
    fn scale_and_bad_input() {
        let (width, height, _) = pixels(&svg_to_png(SVG, 2.0).unwrap());
        assert_eq!((width, height), (400, 200));
        assert!(matches!(svg_to_png("<svg", 1.0), Err(PngError::Svg(_))));
        assert!(matches!(svg_to_png(SVG, 100.0), Err(PngError::Size(..))));
    }
}
