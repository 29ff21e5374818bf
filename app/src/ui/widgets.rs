//! Small drawing pieces shared by the views: the state badge, the level
//! meter, the waveform and the live transcript. Each gives its response an
//! accessible label so screen readers and tests find it by name.

use egui::{Color32, Response, RichText, Role, Sense, Ui, Vec2, WidgetInfo};

use crate::core::Snapshot;
use crate::messages::{DictationState, Notice, Severity};

/// The colour that stands for a state, in the window and the tray icon.
#[must_use]
pub fn state_colour(state: DictationState) -> Color32 {
    match state {
        DictationState::Idle => Color32::from_rgb(0x5b, 0x8d, 0xef),
        DictationState::Listening => Color32::from_rgb(0xe5, 0x39, 0x35),
        DictationState::Processing => Color32::from_rgb(0xf5, 0xa6, 0x23),
        DictationState::Error => Color32::from_rgb(0x8e, 0x24, 0xaa),
        DictationState::Disabled => Color32::from_rgb(0x9e, 0x9e, 0x9e),
    }
}

/// A coloured dot and the state's name.
pub fn state_badge(ui: &mut Ui, state: DictationState) -> Response {
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
        ui.painter()
            .circle_filled(rect.center(), 6.0, state_colour(state));
        ui.label(RichText::new(state.label()).strong())
    })
    .inner
}

/// A horizontal meter of the input level (peak, on a dB-like scale so
/// speech moves it visibly).
pub fn level_meter(ui: &mut Ui, peak: f32) -> Response {
    let shown = level_fraction(peak);
    let response = ui.add(
        egui::ProgressBar::new(shown)
            .desired_height(8.0)
            .desired_width(ui.available_width()),
    );
    response.widget_info(|| {
        let mut info = WidgetInfo::labeled(Role::ProgressIndicator, true, "Input level");
        info.value = Some(f64::from(shown));
        info
    });
    response
}

/// Maps a linear peak (0–1) to the meter: −60 dBFS is empty, 0 dBFS full.
#[must_use]
pub fn level_fraction(peak: f32) -> f32 {
    if peak <= 0.0 {
        return 0.0;
    }
    let db = 20.0 * peak.log10();
    ((db + 60.0) / 60.0).clamp(0.0, 1.0)
}

/// Bars of recent peaks, newest on the right.
pub fn waveform(ui: &mut Ui, peaks: &[f32]) -> Response {
    let size = Vec2::new(ui.available_width(), 36.0);
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
    let bars = 80.0;
    let step = rect.width() / bars;
    let colour = ui.visuals().selection.bg_fill;
    let skip = peaks.len().saturating_sub(80);
    for (i, p) in peaks.iter().skip(skip).enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = rect.right() - (peaks.len().min(80) - i) as f32 * step;
        let h = (level_fraction(*p) * rect.height()).max(1.0);
        let bar = egui::Rect::from_center_size(
            egui::pos2(x + step / 2.0, rect.center().y),
            Vec2::new((step - 1.0).max(1.0), h),
        );
        painter.rect_filled(bar, 1.0, colour);
    }
    response.widget_info(|| WidgetInfo::labeled(Role::Image, true, "Waveform"));
    response
}

/// The live transcript: committed words in full strength, tentative words
/// dimmed and italic, so the user sees which may still change.
pub fn live_transcript(ui: &mut Ui, snapshot: &Snapshot) {
    ui.label(RichText::new("Live transcript").small().weak());
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_min_height(48.0);
        ui.set_width(ui.available_width());
        if snapshot.committed.is_empty() && snapshot.tentative.is_empty() {
            ui.label(RichText::new("Nothing yet").weak());
            return;
        }
        ui.horizontal_wrapped(|ui| {
            if !snapshot.committed.is_empty() {
                ui.label(RichText::new(&snapshot.committed).strong())
                    .widget_info(|| {
                        WidgetInfo::labeled(
                            Role::Label,
                            true,
                            format!("Committed: {}", snapshot.committed),
                        )
                    });
            }
            if !snapshot.tentative.is_empty() {
                ui.label(RichText::new(&snapshot.tentative).italics().weak())
                    .widget_info(|| {
                        WidgetInfo::labeled(
                            Role::Label,
                            true,
                            format!("Tentative: {}", snapshot.tentative),
                        )
                    });
            }
        });
    });
}

/// Problems to read, each on its own line, with a dismiss button.
pub fn notices(ui: &mut Ui, notices: &[Notice]) -> bool {
    if notices.is_empty() {
        return false;
    }
    let worst = notices.iter().map(|n| n.severity).max_by_key(|s| rank(*s));
    let frame = worst.map_or(ui.visuals().warn_fg_color, |s| colour(ui, s));
    let mut dismissed = false;
    egui::Frame::group(ui.style())
        .fill(frame.gamma_multiply(0.15))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            for n in notices {
                // The word says it too: colour alone is not enough.
                let text = match n.severity {
                    Severity::Info => n.text.clone(),
                    Severity::Warning => format!("Warning: {}", n.text),
                    Severity::Error => format!("Error: {}", n.text),
                };
                ui.label(RichText::new(text).color(colour(ui, n.severity)));
            }
            if ui.small_button("Dismiss").clicked() {
                dismissed = true;
            }
        });
    dismissed
}

/// Errors first, then warnings, then notes.
fn rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    }
}

/// How a notice of this severity is coloured.
fn colour(ui: &Ui, s: Severity) -> Color32 {
    match s {
        Severity::Info => ui.visuals().text_color(),
        Severity::Warning => ui.visuals().warn_fg_color,
        Severity::Error => ui.visuals().error_fg_color,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_fraction_spans_minus_sixty_to_zero_db() {
        assert!(level_fraction(0.0).abs() < f32::EPSILON);
        assert!(level_fraction(0.0005).abs() < f32::EPSILON);
        assert!((level_fraction(1.0) - 1.0).abs() < 1e-6);
        assert!((level_fraction(0.001) - 0.0).abs() < 1e-4);
        assert!((level_fraction(0.0316) - 0.5).abs() < 0.01);
    }
}
