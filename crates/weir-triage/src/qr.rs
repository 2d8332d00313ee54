//! Renders a QR code for the terminal with Unicode half blocks (two modules
//! per character cell), dark modules on a light background with a quiet zone.

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// The QR code of `text`, ready to print; `None` if the text is too long for a QR code.
pub fn terminal_qr(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}
