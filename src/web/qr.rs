//! QR codes of `otpauth://` URIs for TOTP enrolment (the console's account page and the user's `/account` and
//! sign-in enrolment), laid out here and drawn by templates as SVG: no markup built from data, no script.

use std::fmt::Write;

use qrcode::{Color, QrCode};

/// A QR code as one SVG path of its dark modules, one unit each, inside a quiet zone of 4 (ISO/IEC 18004 §6.3.8):
/// `size` is the viewBox's side.
pub struct QrPath {
    pub size: usize,
    pub d: String,
}

/// The QR code of `text`, or none when it does not fit one (the URI and secret are shown as text anyway).
pub fn qr_path(text: &str) -> Option<QrPath> {
    const QUIET: usize = 4;
    let code = QrCode::new(text.as_bytes()).ok()?;
    let width = code.width();
    if width == 0 {
        return None;
    }
    let mut d = String::new();
    for (y, row) in code.to_colors().chunks(width).enumerate() {
        // One rectangle per horizontal run of dark modules keeps the path short.
        let mut x = 0;
        while x < row.len() {
            let run = row.iter().skip(x).take_while(|c| **c == Color::Dark).count();
            if run > 0 {
                let _ = write!(d, "M{} {}h{run}v1h-{run}z", x + QUIET, y + QUIET);
            }
            x += run.max(1);
        }
    }
    Some(QrPath { size: width + 2 * QUIET, d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_qr_code_as_one_path_inside_its_quiet_zone() {
        let qr = qr_path("otpauth://totp/sesame:root?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=sesame").unwrap();
        assert_eq!((qr.size - 8) % 4, 1, "versions are 17 + 4v modules wide, plus 8 of quiet zone");
        // The top-left finder pattern starts with a run of 7 dark modules at (4, 4).
        assert!(qr.d.starts_with("M4 4h7v1h-7z"), "{}", &qr.d[..40]);
        assert!(qr.d.chars().all(|c| c.is_ascii_alphanumeric() || " -".contains(c)), "plain path data");
    }
}
