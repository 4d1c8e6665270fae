//! The Chorder plugin: a pass-through analysis plugin (CLAP, VST3 and a standalone app).
//!
//! Threads and data flow:
//! - audio thread ([`Chorder::process`]): leaves the audio untouched and pushes the mono
//!   downmix into a lock-free SPSC ring ([`tap`]); nothing else (no allocation, lock, system
//!   call or logging).
//! - analysis worker ([`worker`], started in `activate`, joined in `deactivate`): ring →
//!   `chorder_engine::FrontEndStream` (musicnn preset at the host rate) → log-mel patches →
//!   [`analyzer::Analyzer`] → [`meter::MeterState`], published through a triple buffer.
//! - GUI ([`editor`]): draws the latest `MeterState`; changes parameters through the host.

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, RepaintNotifier,
};

pub mod analyzer;
pub mod editor;
pub mod harness;
pub mod meter;
pub mod model_analyzer;
pub mod params;
pub mod player;
pub mod tap;
pub mod worker;

use meter::MeterState;
use params::ChorderParams;
use tap::{audio_ring, AudioTap, DenormalGuard};
use worker::{Shared, Worker, WorkerState};

/// Seconds of mono audio the ring to the worker holds.
pub const RING_SECONDS: f32 = 2.0;

/// The plugin instance.
pub struct Chorder {
    params: Arc<ChorderParams>,
    shared: Arc<Shared>,
    /// Producer end of the ring; `Some` while active.
    tap: Option<AudioTap>,
    /// The analysis thread; `Some` while active.
    worker: Option<Worker>,
    /// The worker's state while no worker runs.
    idle: Option<WorkerState>,
    /// The editor's end of the meter triple buffer, until the editor takes it.
    meter_out: Option<triple_buffer::Output<MeterState>>,
    editor_state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
    /// The standalone app's `--input` clip player (see [`player`]); `None` in a DAW.
    player: Option<player::InputPlayer>,
}

impl Default for Chorder {
    fn default() -> Self {
        let repaint = RepaintNotifier::new();
        let notify = repaint.clone();
        let shared = Arc::new(Shared::new(move || notify.request_repaint()));
        let (meter_in, meter_out) = triple_buffer::triple_buffer(&MeterState::default());
        Self {
            params: Arc::new(ChorderParams::new(shared.clone())),
            shared,
            tap: None,
            worker: None,
            idle: Some(WorkerState::new(meter_in)),
            meter_out: Some(meter_out),
            editor_state: editor::default_state(),
            repaint,
            player: None,
        }
    }
}

impl Chorder {
    /// The shared state (counters the audio thread and the worker write).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Takes the editor's end of the meter triple buffer (once); for hosts without a GUI
    /// (tests) that want to read the published [`MeterState`].
    pub fn take_meter_output(&mut self) -> Option<triple_buffer::Output<MeterState>> {
        self.meter_out.take()
    }

    fn stop_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            if let Some(state) = w.stop() {
                self.idle = Some(state);
            }
        }
    }
}

impl Plugin for Chorder {
    const NAME: &'static str = "Chorder";
    const VENDOR: &'static str = "Chorder";
    const URL: &'static str = "https://example.invalid/chorder";
    const EMAIL: &'static str = "chorder@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = EguiEditor<editor::ChorderEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        let meter = self.meter_out.take()?;
        create_egui_editor(
            self.editor_state.clone(),
            self.repaint.clone(),
            EguiNiceSettings::new().with_tile("Chorder"),
            editor::ChorderEditor::new(self.params.clone(), self.shared.clone(), meter),
        )
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // A new rate or layout: rebuild the ring and the front end from scratch.
        self.stop_worker();
        let Some(mut state) = self.idle.take() else {
            nice_error!("analysis worker state lost (worker panicked)");
            return false;
        };
        if let Ok(saved) = self.params.history.read() {
            state.restore(&saved.clone().truncated());
        }
        let sr = buffer_config.sample_rate;
        self.player = player::standalone_input().map(player::InputPlayer::new);
        let capacity =
            ((sr * RING_SECONDS) as usize).max(4 * buffer_config.max_buffer_size as usize);
        let (tap, cons) = audio_ring(capacity, self.shared.tap.clone());
        match Worker::spawn(
            cons,
            chorder_engine::FrontEndConfig::musicnn(),
            sr,
            state,
            self.params.clone(),
            self.shared.clone(),
        ) {
            Ok(w) => {
                self.worker = Some(w);
                self.tap = Some(tap);
                true
            }
            Err(e) => {
                nice_error!("could not start the analysis thread: {e}");
                false
            }
        }
    }

    fn reset(&mut self) {
        // Realtime-safe: the worker restarts its stream when it sees the new count.
        self.shared
            .stream_resets
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let _ftz = DenormalGuard::new();
        if let Some(p) = self.player.as_mut() {
            p.fill(buffer);
        }
        if let Some(tap) = self.tap.as_mut() {
            tap.push(buffer.as_slice_immutable());
        }
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.stop_worker();
        self.tap = None;
    }
}

impl ClapPlugin for Chorder {
    const CLAP_ID: &'static str = "org.chorder.analyzer";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Estimates how popular the music passing through is likely to be");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for Chorder {
    const VST3_CLASS_ID: [u8; 16] = *b"ChorderAnalyzer1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(Chorder);
nice_export_vst3!(Chorder);
