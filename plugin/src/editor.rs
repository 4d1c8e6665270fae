//! The egui editor: reads the latest [`MeterState`] from the triple buffer and draws it.
//!
//! Shows the meter (momentary bar and integrated marker, 0-100, or "no model loaded" with
//! the level instead), the history graph, reset/freeze/smoothing controls, model name with
//! a demo badge, the overflow and non-finite counters, the top tags and the model path.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use egui::{Align2, Color32, FontId, Pos2, Rect, RichText, Sense, Stroke};
use nice_plug_egui::{widgets, EguiEditorState, Frame, NiceEguiApp};

use crate::meter::MeterState;
use crate::params::ChorderParams;
use crate::worker::Shared;

/// Editor size, logical pixels.
pub const EDITOR_SIZE: (u32, u32) = (560, 520);

const ACCENT: Color32 = Color32::from_rgb(0xe0, 0x9a, 0x2b);
const DIM: Color32 = Color32::from_gray(110);

/// The editor's egui app.
pub struct ChorderEditor {
    params: Arc<ChorderParams>,
    shared: Arc<Shared>,
    meter: triple_buffer::Output<MeterState>,
    gui: Option<nice_plug::context::gui::GuiContext>,
    path_edit: String,
}

impl ChorderEditor {
    /// An editor reading `meter` (the worker publishes into its other end).
    pub fn new(
        params: Arc<ChorderParams>,
        shared: Arc<Shared>,
        meter: triple_buffer::Output<MeterState>,
    ) -> Self {
        let path_edit = params
            .model_path
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        Self {
            params,
            shared,
            meter,
            gui: None,
            path_edit,
        }
    }
}

/// The default editor state (size, zoom).
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(
        nice_plug::editor::dpi::LogicalSize::new(EDITOR_SIZE.0 as f64, EDITOR_SIZE.1 as f64),
        1.0,
    )
}

impl NiceEguiApp for ChorderEditor {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        nice_gui_ctx: nice_plug::context::gui::GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let m = *self.meter.read();
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();

        ui.horizontal(|ui| {
            ui.heading(RichText::new("Chorder").color(ACCENT).strong());
            ui.label(RichText::new(m.model_name.as_str()).color(DIM));
            if m.is_demo {
                ui.label(
                    RichText::new(" DEMO MODEL ")
                        .background_color(Color32::from_rgb(0x9a, 0x2b, 0x2b))
                        .color(Color32::WHITE)
                        .strong(),
                );
            }
        });
        ui.separator();
        draw_meter(ui, &m);
        ui.add_space(6.0);
        draw_history(ui, &m);
        ui.add_space(6.0);

        ui.horizontal(|ui| {
            if ui.button("Reset").clicked() {
                setter.begin_set_parameter(&self.params.reset);
                setter.set_parameter(&self.params.reset, true);
                setter.set_parameter(&self.params.reset, false);
                setter.end_set_parameter(&self.params.reset);
            }
            let frozen = self.params.freeze.value();
            let label = if frozen {
                "Frozen (click to run)"
            } else {
                "Freeze"
            };
            if ui.selectable_label(frozen, label).clicked() {
                setter.begin_set_parameter(&self.params.freeze);
                setter.set_parameter(&self.params.freeze, !frozen);
                setter.end_set_parameter(&self.params.freeze);
            }
            ui.label("Smoothing");
            ui.add(widgets::ParamSlider::for_param(
                &self.params.smoothing,
                &setter,
            ));
        });

        ui.horizontal(|ui| {
            ui.label(format!(
                "windows {}  ·  {:.1} s analysed  ·  {:.0} Hz",
                m.windows, m.seconds_analysed, m.sample_rate
            ));
        });
        ui.horizontal(|ui| {
            let warn = |n: u64| if n > 0 { Color32::LIGHT_RED } else { DIM };
            ui.label(
                RichText::new(format!("ring overflows: {} samples", m.ring_overflows))
                    .color(warn(m.ring_overflows)),
            );
            ui.label(
                RichText::new(format!("NaN/inf replaced: {}", m.non_finite_replaced))
                    .color(warn(m.non_finite_replaced)),
            );
        });

        ui.separator();
        if m.tags().is_empty() {
            ui.label(RichText::new("no tags (no tagging model loaded)").color(DIM));
        } else {
            ui.label("Top tags");
            let names = self.shared.tag_names.read().ok();
            for t in m.tags() {
                let name = names
                    .as_ref()
                    .and_then(|n| n.get(t.index as usize).cloned())
                    .unwrap_or_else(|| format!("tag {}", t.index));
                ui.horizontal(|ui| {
                    ui.add(egui::ProgressBar::new(t.prob.clamp(0.0, 1.0)).desired_width(120.0));
                    ui.label(format!("{name} ({:.0}%)", t.prob * 100.0));
                });
            }
        }

        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Model bundle");
            ui.text_edit_singleline(&mut self.path_edit);
            if ui.button("Load").clicked() {
                if let Ok(mut p) = self.params.model_path.write() {
                    p.clone_from(&self.path_edit);
                }
                self.shared.model_reloads.fetch_add(1, Ordering::AcqRel);
            }
        });
    }
}

fn draw_meter(ui: &mut egui::Ui, m: &MeterState) {
    let width = ui.available_width();
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 90.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::from_gray(28));
    let bar = Rect::from_min_max(
        Pos2::new(rect.left() + 10.0, rect.bottom() - 30.0),
        Pos2::new(rect.right() - 10.0, rect.bottom() - 12.0),
    );
    painter.rect_filled(bar, 2.0, Color32::from_gray(45));
    let x_of = |v: f32| bar.left() + bar.width() * (v.clamp(0.0, 100.0) / 100.0);

    if !m.has_model {
        painter.text(
            Pos2::new(rect.center().x, rect.top() + 26.0),
            Align2::CENTER_CENTER,
            "no model loaded",
            FontId::proportional(26.0),
            DIM,
        );
        let level = m.level.map_or("level: -".to_owned(), |l| {
            format!("level (mean log-mel, not popularity): {l:.2}")
        });
        painter.text(
            bar.center(),
            Align2::CENTER_CENTER,
            level,
            FontId::proportional(13.0),
            Color32::from_gray(170),
        );
        return;
    }
    if let Some(v) = m.momentary {
        let fill = Rect::from_min_max(bar.min, Pos2::new(x_of(v), bar.bottom()));
        painter.rect_filled(fill, 2.0, ACCENT);
    }
    if let Some(v) = m.integrated {
        let x = x_of(v);
        painter.line_segment(
            [
                Pos2::new(x, bar.top() - 4.0),
                Pos2::new(x, bar.bottom() + 4.0),
            ],
            Stroke::new(2.0, Color32::WHITE),
        );
    }
    let fmt = |v: Option<f32>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    painter.text(
        Pos2::new(rect.left() + 14.0, rect.top() + 26.0),
        Align2::LEFT_CENTER,
        format!("momentary {}", fmt(m.momentary)),
        FontId::proportional(28.0),
        ACCENT,
    );
    painter.text(
        Pos2::new(rect.right() - 14.0, rect.top() + 26.0),
        Align2::RIGHT_CENTER,
        format!("integrated {}", fmt(m.integrated)),
        FontId::proportional(20.0),
        Color32::WHITE,
    );
}

fn draw_history(ui: &mut egui::Ui, m: &MeterState) {
    let width = ui.available_width();
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 110.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::from_gray(22));
    let n = m.history.len();
    let (label, values): (&str, Vec<Option<f32>>) = if m.has_model {
        (
            "popularity per window (0-100)",
            m.history.iter().map(|p| p.popularity).collect(),
        )
    } else {
        (
            "level per window (mean log-mel, auto-scaled)",
            m.history.iter().map(|p| p.level).collect(),
        )
    };
    painter.text(
        rect.left_top() + egui::vec2(6.0, 4.0),
        Align2::LEFT_TOP,
        label,
        FontId::proportional(11.0),
        DIM,
    );
    if n < 2 {
        return;
    }
    let (lo, hi) = if m.has_model {
        (0.0, 100.0)
    } else {
        let (lo, hi) = values
            .iter()
            .flatten()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        if lo >= hi {
            (lo - 1.0, lo + 1.0)
        } else {
            (lo, hi)
        }
    };
    let inner = rect.shrink2(egui::vec2(6.0, 18.0));
    let mut points = Vec::with_capacity(n);
    let flush = |points: &mut Vec<Pos2>| {
        if points.len() > 1 {
            painter.add(egui::Shape::line(
                std::mem::take(points),
                Stroke::new(1.5, ACCENT),
            ));
        }
        points.clear();
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let x = inner.left() + inner.width() * i as f32 / (n - 1) as f32;
                let y = inner.bottom() - inner.height() * ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
                points.push(Pos2::new(x, y));
            }
            None => flush(&mut points),
        }
    }
    flush(&mut points);
}
