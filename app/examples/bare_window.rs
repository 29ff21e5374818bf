//! A bare eframe window with the same renderer (glow) and size as
//! TonnyTray's: the baseline for the RSS comparison in docs/PERFORMANCE.md
//! (`ci/bench.sh desktop`).

fn main() -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("bare eframe")
            .with_inner_size([400.0, 440.0]),
        ..Default::default()
    };
    eframe::run_ui_native("bare eframe", options, |ui, _frame| {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.label("A bare eframe window");
        });
    })
}
