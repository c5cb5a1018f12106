//! Portal tile logos that administrators upload: which images we take (PNG, JPEG or WebP, at most
//! `MAX_LOGO_BYTES`), decided from the file's own first bytes, never from the name or the type a client declared.
//!
//! Architecture Invariant: an uploaded logo is served with the type `sniff` found, so a file whose bytes are not
//! one of the three raster formats (SVG, which can carry script; HTML named `logo.png`) is never stored.

/// The largest logo we store: room for a crisp tile image, small enough to keep in the database and send often.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// The image formats a logo may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Webp,
}

impl ImageType {
    /// The media type a logo of this format is served with.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// The format of a stored or declared media type (parameters and case ignored); `None` for any other type.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// The format's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::Webp => "WebP",
        }
    }
}

/// Why a file is not taken as a logo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    #[error("the logo is empty")]
    Empty,
    #[error("the logo is {} KiB: a logo may be at most {} KiB", size.div_ceil(1024), MAX_LOGO_BYTES / 1024)]
    TooLarge { size: usize },
    #[error("the logo is not a PNG, JPEG or WebP image{}", looks_like.map(|l| format!(" (it looks like {l})")).unwrap_or_default())]
    Unsupported { looks_like: Option<&'static str> },
    #[error("the logo is a {} image, not {declared}", found.name())]
    Mismatch { found: ImageType, declared: &'static str },
}

/// The format of `bytes`, from their signature: PNG (RFC 2083 §3.1), JPEG (the SOI marker followed by another
/// marker) or WebP (a RIFF container of form type `WEBP`). Size first, so nothing large is looked at.
pub fn sniff(bytes: &[u8]) -> Result<ImageType, LogoError> {
    if bytes.is_empty() {
        return Err(LogoError::Empty);
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(LogoError::TooLarge { size: bytes.len() });
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageType::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageType::Jpeg);
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        return Ok(ImageType::Webp);
    }
    Err(LogoError::Unsupported { looks_like: looks_like(bytes) })
}

/// A guess at what a refused file is, so the message can say (an SVG or an HTML page named like an image).
fn looks_like(bytes: &[u8]) -> Option<&'static str> {
    let head = bytes.get(..512).unwrap_or(bytes);
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.contains("<svg") {
        Some("SVG")
    } else if text.contains("<html") || text.contains("<!doctype html") || text.contains("<script") {
        Some("HTML")
    } else if bytes.starts_with(b"GIF8") {
        Some("GIF")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8], expected: Result<ImageType, LogoError>) {
        assert_eq!(sniff(bytes), expected);
    }

    #[test]
    fn takes_png_jpeg_and_webp_by_their_signatures() {
        check(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Ok(ImageType::Png));
        check(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'], Ok(ImageType::Jpeg));
        check(b"RIFF\x24\0\0\0WEBPVP8 ", Ok(ImageType::Webp));
    }

    /// Script served from our origin: an SVG (which may carry script) or an HTML page under an image's name is
    /// never taken, whatever it is called.
    #[test]
    fn refuses_svg_html_and_other_formats() {
        let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
        check(svg, Err(LogoError::Unsupported { looks_like: Some("SVG") }));
        check(b"<!DOCTYPE html><html><body>hi</body></html>", Err(LogoError::Unsupported { looks_like: Some("HTML") }));
        check(b"GIF89a\x01\0\x01\0", Err(LogoError::Unsupported { looks_like: Some("GIF") }));
        check(b"RIFF\x24\0\0\0WAVEfmt ", Err(LogoError::Unsupported { looks_like: None }));
        check(b"\x89PNG", Err(LogoError::Unsupported { looks_like: None }));
        check(b"", Err(LogoError::Empty));
    }

    #[test]
    fn refuses_more_than_the_cap() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(MAX_LOGO_BYTES, 0);
        check(&png, Ok(ImageType::Png));
        png.push(0);
        check(&png, Err(LogoError::TooLarge { size: MAX_LOGO_BYTES + 1 }));
        assert_eq!(sniff(&png).unwrap_err().to_string(), "the logo is 257 KiB: a logo may be at most 256 KiB");
    }

    #[test]
    fn reads_media_types() {
        assert_eq!(ImageType::from_media_type("IMAGE/PNG; charset=x"), Some(ImageType::Png));
        assert_eq!(ImageType::from_media_type("image/svg+xml"), None);
        for t in [ImageType::Png, ImageType::Jpeg, ImageType::Webp] {
            assert_eq!(ImageType::from_media_type(t.media_type()), Some(t));
        }
    }
}
