//! The History tab: search what was said (words, dates, profile,
//! favourites), copy, mark, delete with undo, type again; and the statistics
//! view (utterances per day and profile, mean latency). The store worker
//! runs the searches and the window puts its answers here as view rows;
//! this module only draws and asks.

use egui::{RichText, Ui};

use super::UiAction;
use crate::core::Snapshot;
use crate::messages::Command;
pub use crate::messages::history::HistoryFilter;
use crate::messages::history::{DayRow, HistoryPage, HistoryRow};

/// The tab's state.
#[derive(Debug, Default)]
pub struct HistoryView {
    /// The filter being edited.
    pub filter: HistoryFilter,
    /// The filter and history revision last asked for.
    pub asked: Option<(HistoryFilter, u64)>,
    /// Matching utterances, newest first.
    pub results: Vec<HistoryRow>,
    /// More matched than are shown.
    pub more: bool,
    /// Why the search failed (bad date, unreadable store).
    pub error: Option<String>,
    /// Daily statistics, by day then profile.
    pub stats: Vec<DayRow>,
    /// Showing the statistics instead of the utterances.
    pub statistics: bool,
}

impl HistoryView {
    /// Takes the store worker's answer. Statistics come with every answer;
    /// results only for the filter still being edited (an answer to an
    /// older filter is followed by the newer one's).
    pub fn show(&mut self, page: HistoryPage) {
        self.stats = page.stats;
        if page.filter != self.filter {
            return;
        }
        self.results = page.rows;
        self.more = page.more;
        self.error = page.error;
    }
}

/// Draws the tab.
pub fn draw(ui: &mut Ui, snapshot: &Snapshot, view: &mut HistoryView, actions: &mut Vec<UiAction>) {
    let wanted = (view.filter.clone(), snapshot.history_rev);
    if view.asked.as_ref() != Some(&wanted) {
        view.asked = Some(wanted);
        actions.push(UiAction::SearchHistory(view.filter.clone()));
    }
    ui.horizontal(|ui| {
        if ui
            .selectable_label(!view.statistics, "Utterances")
            .clicked()
        {
            view.statistics = false;
        }
        if ui.selectable_label(view.statistics, "Statistics").clicked() {
            view.statistics = true;
        }
    });
    if let Some(text) = &snapshot.undo {
        ui.horizontal(|ui| {
            ui.label(format!("Deleted “{}”", preview(text)));
            if ui.button("Undo delete").clicked() {
                actions.push(UiAction::Core(Command::UndoDelete));
            }
        });
    }
    if let Some(e) = &view.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if view.statistics {
        statistics(ui, &view.stats);
    } else {
        filter(ui, view);
        ui.separator();
        results(ui, view, actions);
    }
}

fn preview(text: &str) -> String {
    let mut p: String = text.chars().take(40).collect();
    if p.len() < text.len() {
        p.push('…');
    }
    p
}

fn filter(ui: &mut Ui, view: &mut HistoryView) {
    let f = &mut view.filter;
    ui.horizontal(|ui| {
        let label = ui.label("Search");
        ui.add(
            egui::TextEdit::singleline(&mut f.text)
                .hint_text("words to find")
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        date_field(ui, "From", &mut f.since);
        date_field(ui, "To", &mut f.until);
    });
    let mut profiles: Vec<&str> = view.stats.iter().map(|d| d.profile.as_str()).collect();
    profiles.sort_unstable();
    profiles.dedup();
    ui.horizontal(|ui| {
        let shown = if f.profile.is_empty() {
            "All profiles"
        } else {
            f.profile.as_str()
        };
        egui::ComboBox::from_label("Profile")
            .selected_text(shown.to_owned())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.profile, String::new(), "All profiles");
                for p in profiles {
                    ui.selectable_value(&mut f.profile, p.to_owned(), p);
                }
            });
        ui.checkbox(&mut f.favourites, "Favourites only");
    });
}

/// A labelled YYYY-MM-DD field.
fn date_field(ui: &mut Ui, label: &str, value: &mut String) {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .hint_text("YYYY-MM-DD")
            .desired_width(90.0),
    )
    .labelled_by(label.id);
}

fn results(ui: &mut Ui, view: &HistoryView, actions: &mut Vec<UiAction>) {
    if view.results.is_empty() {
        ui.label(
            if view
                .asked
                .as_ref()
                .is_some_and(|(f, _)| *f == HistoryFilter::default())
            {
                "Nothing saved yet. What you dictate is kept here."
            } else {
                "Nothing matches."
            },
        );
        return;
    }
    let count = if view.more {
        format!(
            "The newest {} matches; narrow the search to see older ones.",
            view.results.len()
        )
    } else {
        format!("{} matches", view.results.len())
    };
    ui.label(RichText::new(count).small().weak());
    egui::ScrollArea::vertical().show(ui, |ui| {
        for u in &view.results {
            ui.group(|ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    ui.label(RichText::new(&u.when).small().weak());
                    ui.label(RichText::new(&u.profile).small().weak());
                    ui.label(RichText::new(&u.went).small().weak());
                    if u.favourite {
                        ui.label(RichText::new("favourite").small().strong());
                    }
                });
                ui.label(&u.text);
                if let Some(l) = &u.latency {
                    ui.label(RichText::new(l).small().weak());
                }
                ui.horizontal(|ui| {
                    if ui.small_button("Copy").clicked() {
                        actions.push(UiAction::Copy(u.text.clone()));
                    }
                    let label = if u.favourite {
                        "Remove from favourites"
                    } else {
                        "Mark as favourite"
                    };
                    if ui.small_button(label).clicked() {
                        actions.push(UiAction::Core(Command::SetFavourite {
                            id: u.id,
                            favourite: !u.favourite,
                        }));
                    }
                    if ui.small_button("Type again").clicked() {
                        actions.push(UiAction::Retype(u.id));
                    }
                    if ui.small_button("Delete").clicked() {
                        actions.push(UiAction::Core(Command::DeleteUtterance(u.id)));
                    }
                });
            });
        }
    });
}

fn statistics(ui: &mut Ui, stats: &[DayRow]) {
    if stats.is_empty() {
        ui.label("No statistics yet.");
        return;
    }
    let total: u64 = stats.iter().map(|d| d.utterances).sum();
    ui.label(format!(
        "{total} utterances on {} day(s), by day (UTC) and profile:",
        {
            let mut days: Vec<&str> = stats.iter().map(|d| d.day.as_str()).collect();
            days.dedup();
            days.len()
        }
    ));
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("statistics").striped(true).show(ui, |ui| {
            for h in ["Day", "Profile", "Utterances", "Words", "Mean latency"] {
                ui.strong(h);
            }
            ui.end_row();
            for d in stats.iter().rev() {
                ui.label(&d.day);
                ui.label(&d.profile);
                ui.label(d.utterances.to_string());
                ui.label(d.words.to_string());
                ui.label(
                    d.mean_final_text_ms
                        .map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms")),
                );
                ui.end_row();
            }
        });
    });
}
