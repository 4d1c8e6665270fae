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
pub const EDITOR_SIZE: (u32, u32) = (560, 540);

const ACCENT: Color32 = Color32::from_rgb(0xe0, 0x9a, 0x2b);
const DIM: Color32 = Color32::from_gray(140);
const TAG_FILL: Color32 = Color32::from_rgb(0x2b, 0x6c, 0x9a);
const INTEGRATED: Color32 = Color32::from_rgb(0xf4, 0xf1, 0xea);

/// The editor's egui app.
pub struct ChorderEditor {
    params: Arc<ChorderParams>,
    shared: Arc<Shared>,
    meter: triple_buffer::Output<MeterState>,
    gui: Option<nice_plug::context::gui::GuiContext>,
    path_edit: String,
    /// Tag probabilities averaged over the last few windows (exponential, time constant
    /// [`TAG_WINDOWS`] windows), indexed like the analyzer's tag vocabulary.
    tag_avg: Vec<f32>,
    /// `MeterState::windows` when `tag_avg` was last updated.
    tag_windows: u64,
}

/// Windows the top-tag list averages over (time constant of its exponential average).
pub const TAG_WINDOWS: f32 = 5.0;
/// Tags listed.
const SHOWN_TAGS: usize = 6;

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
            tag_avg: Vec::new(),
            tag_windows: 0,
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

impl ChorderEditor {
    /// Folds the latest window's tags into the running average (once per new window; a
    /// reset or a new model starts it again).
    fn update_tags(&mut self, m: &MeterState) {
        if m.windows < self.tag_windows || m.n_tags == 0 {
            self.tag_avg.clear();
        }
        if m.windows == self.tag_windows || m.n_tags == 0 {
            self.tag_windows = m.windows;
            return;
        }
        let first = self.tag_avg.is_empty();
        let need = m
            .tags()
            .iter()
            .map(|t| t.index as usize + 1)
            .max()
            .unwrap_or(0);
        if self.tag_avg.len() < need {
            self.tag_avg.resize(need, 0.0);
        }
        // Windows since the last update (the editor may skip some while hidden).
        let steps = (m.windows - self.tag_windows) as f32;
        let keep = if first {
            0.0
        } else {
            (-steps / TAG_WINDOWS).exp()
        };
        for v in &mut self.tag_avg {
            *v *= keep;
        }
        for t in m.tags() {
            self.tag_avg[t.index as usize] += (1.0 - keep) * t.prob;
        }
        self.tag_windows = m.windows;
    }
}

/// Indices of the `n` largest values (positive only), largest first.
fn top_indices(v: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..v.len()).filter(|&i| v[i] > 0.0).collect();
    order.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    order.truncate(n);
    order
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
        egui::Frame::new()
            .inner_margin(egui::Margin::same(10))
            .show(ui, |ui| self.body(ui));
    }
}

impl ChorderEditor {
    /// The whole editor, inside the outer margin.
    fn body(&mut self, ui: &mut egui::Ui) {
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
        self.update_tags(&m);
        let names = self.shared.tag_names.read().ok();
        let top = top_indices(&self.tag_avg, SHOWN_TAGS);
        if top.is_empty() {
            ui.label(RichText::new("no tags (no tagging model loaded)").color(DIM));
        } else {
            ui.label(
                RichText::new(format!(
                    "What the model hears (tags, last ~{TAG_WINDOWS:.0} windows)"
                ))
                .color(DIM),
            );
            egui::Grid::new("tags")
                .num_columns(4)
                .spacing([8.0, 2.0])
                .show(ui, |ui| {
                    for (k, &i) in top.iter().enumerate() {
                        let name = names
                            .as_ref()
                            .and_then(|n| n.get(i).cloned())
                            .unwrap_or_else(|| format!("tag {i}"));
                        let p = self.tag_avg[i].clamp(0.0, 1.0);
                        ui.add(
                            egui::ProgressBar::new(p)
                                .desired_width(70.0)
                                .fill(TAG_FILL)
                                .text(format!("{:.0}%", p * 100.0)),
                        );
                        ui.label(name);
                        if k % 2 == 1 {
                            ui.end_row();
                        }
                    }
                });
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
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 128.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::from_gray(28));

    if !m.has_model {
        painter.text(
            Pos2::new(rect.center().x, rect.top() + 40.0),
            Align2::CENTER_CENTER,
            "no model loaded",
            FontId::proportional(26.0),
            DIM,
        );
        let level = m.level.map_or("level: -".to_owned(), |l| {
            format!("level (mean log-mel, not popularity): {l:.2}")
        });
        painter.text(
            Pos2::new(rect.center().x, rect.bottom() - 30.0),
            Align2::CENTER_CENTER,
            level,
            FontId::proportional(13.0),
            Color32::from_gray(170),
        );
        return;
    }
    let fmt = |v: Option<f32>| v.map_or("–".to_owned(), |v| format!("{v:.0}"));
    // Two big read-outs, loudness-meter style: momentary left, integrated right.
    let half = rect.width() / 2.0;
    for (k, (label, value, color)) in [
        ("MOMENTARY", m.momentary, ACCENT),
        ("INTEGRATED", m.integrated, INTEGRATED),
    ]
    .into_iter()
    .enumerate()
    {
        let x = rect.left() + half * k as f32 + 14.0;
        painter.text(
            Pos2::new(x, rect.top() + 8.0),
            Align2::LEFT_TOP,
            label,
            FontId::proportional(11.0),
            DIM,
        );
        painter.text(
            Pos2::new(x, rect.top() + 20.0),
            Align2::LEFT_TOP,
            fmt(value),
            FontId::proportional(44.0),
            color,
        );
        painter.text(
            Pos2::new(x + 80.0, rect.top() + 50.0),
            Align2::LEFT_CENTER,
            "/ 100",
            FontId::proportional(13.0),
            DIM,
        );
    }
    // Two horizontal bars on one 0-100 scale.
    let left = rect.left() + 14.0;
    let right = rect.right() - 14.0;
    let x_of = |v: f32| left + (right - left) * (v.clamp(0.0, 100.0) / 100.0);
    let bars = [
        (rect.top() + 78.0, m.momentary, ACCENT),
        (rect.top() + 94.0, m.integrated, INTEGRATED),
    ];
    for (y, value, color) in bars {
        let track = Rect::from_min_max(Pos2::new(left, y), Pos2::new(right, y + 11.0));
        painter.rect_filled(track, 2.0, Color32::from_gray(45));
        if let Some(v) = value {
            let fill = Rect::from_min_max(track.min, Pos2::new(x_of(v), track.bottom()));
            painter.rect_filled(fill, 2.0, color);
        }
    }
    // The model's 90 % interval around the integrated estimate: a bracket over its bar and
    // the range under its read-out.
    if let Some([lo, hi]) = m.interval() {
        let y = rect.top() + 94.0;
        let span = Rect::from_min_max(Pos2::new(x_of(lo), y - 2.0), Pos2::new(x_of(hi), y + 13.0));
        painter.rect_stroke(
            span,
            2.0,
            Stroke::new(1.5, Color32::from_gray(200)),
            egui::StrokeKind::Outside,
        );
        painter.text(
            Pos2::new(rect.left() + half + 14.0 + 80.0, rect.top() + 66.0),
            Align2::LEFT_CENTER,
            format!("90 % interval {lo:.0}-{hi:.0}"),
            FontId::proportional(11.0),
            DIM,
        );
    }
    for tick in (0..=100).step_by(10) {
        let x = x_of(tick as f32);
        let y = rect.top() + 108.0;
        painter.line_segment(
            [Pos2::new(x, y), Pos2::new(x, y + 3.0)],
            Stroke::new(1.0, DIM),
        );
        if tick % 20 == 0 {
            painter.text(
                Pos2::new(x, y + 4.0),
                Align2::CENTER_TOP,
                tick.to_string(),
                FontId::proportional(9.0),
                DIM,
            );
        }
    }
}

fn draw_history(ui: &mut egui::Ui, m: &MeterState) {
    let width = ui.available_width();
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 110.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::from_gray(22));
    let n = m.history.len();
    let (label, values): (&str, Vec<Option<f32>>) = if m.has_model {
        (
            "momentary popularity per window (0-100); dashed: integrated",
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
    if m.has_model {
        for g in [25.0f32, 50.0, 75.0] {
            let y = inner.bottom() - inner.height() * g / 100.0;
            painter.line_segment(
                [Pos2::new(inner.left(), y), Pos2::new(inner.right(), y)],
                Stroke::new(1.0, Color32::from_gray(38)),
            );
            painter.text(
                Pos2::new(inner.right(), y - 1.0),
                Align2::RIGHT_BOTTOM,
                format!("{g:.0}"),
                FontId::proportional(9.0),
                Color32::from_gray(90),
            );
        }
        if let Some(v) = m.integrated {
            let y = inner.bottom() - inner.height() * v.clamp(0.0, 100.0) / 100.0;
            painter.add(egui::Shape::dashed_line(
                &[Pos2::new(inner.left(), y), Pos2::new(inner.right(), y)],
                Stroke::new(1.0, INTEGRATED),
                6.0,
                4.0,
            ));
        }
    }
    painter.text(
        rect.right_top() + egui::vec2(-6.0, 4.0),
        Align2::RIGHT_TOP,
        format!("last {n} windows ({:.0} s)", n as f64 * 0.96),
        FontId::proportional(11.0),
        DIM,
    );
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
