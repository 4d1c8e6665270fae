//! The analysis worker thread: ring → front end → analyzer → published [`MeterState`].
//!
//! Input: mono `f32` samples at the host rate from the [`crate::tap`] ring. The worker
//! drains the ring in chunks of up to [`READ_CHUNK`] samples, runs
//! `chorder_engine::FrontEndStream` (musicnn preset: resampled to 16 kHz, 96 log-mel bands,
//! a patch every 0.96 s), hands each patch to the [`Analyzer`], folds the result into a
//! [`MeterState`] and publishes it through a triple buffer. It sleeps [`IDLE_SLEEP`] when the
//! ring is empty (the audio thread never wakes it: no system call there).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chorder_engine::{FrontEndConfig, FrontEndStream, LogMelPatch};
use ringbuf::traits::Consumer;
use ringbuf::HeapCons;

use crate::analyzer::{make_analyzer, Analyzer, LevelAnalyzer, WindowEstimate};
use crate::meter::{HistoryPoint, MeterState, ShortName, MAX_TAGS};
use crate::params::{ChorderParams, PersistedAnalysis};
use crate::tap::{flush_denormals_on_this_thread, TapCounters};

/// Most samples taken from the ring per step.
pub const READ_CHUNK: usize = 4096;
/// Sleep when the ring is empty.
pub const IDLE_SLEEP: Duration = Duration::from_millis(5);
/// Longest time between two publications (counters stay live without new windows).
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// State shared by the plugin, its parameters, the worker and the editor; lives as long as
/// the plugin instance (across activations). Everything here is lock-free except
/// `tag_names`, which only the worker and the GUI touch.
pub struct Shared {
    /// Counters of the audio thread's tap.
    pub tap: Arc<TapCounters>,
    /// Bumped to clear the analysis (reset button / parameter).
    pub user_resets: AtomicU32,
    /// Bumped by `Plugin::reset()` (audio discontinuity): the worker restarts its stream.
    pub stream_resets: AtomicU32,
    /// The last `stream_resets` value the worker acted on (its stream restarted since).
    pub stream_resets_done: AtomicU32,
    /// Bumped by the GUI after changing the model path: the worker reloads the analyzer.
    pub model_reloads: AtomicU32,
    /// Mono samples the worker has taken from the ring (since the instance was created).
    pub consumed: AtomicU64,
    /// The current analyzer's tag vocabulary (indexes of [`crate::meter::TagProb`]).
    pub tag_names: RwLock<Vec<String>>,
    /// Called after each publication (the editor's repaint request; must be cheap).
    notify: Box<dyn Fn() + Send + Sync>,
}

impl Shared {
    /// Shared state whose worker calls `notify` after each publication.
    pub fn new(notify: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            tap: Arc::new(TapCounters::default()),
            user_resets: AtomicU32::new(0),
            stream_resets: AtomicU32::new(0),
            stream_resets_done: AtomicU32::new(0),
            model_reloads: AtomicU32::new(0),
            consumed: AtomicU64::new(0),
            tag_names: RwLock::new(Vec::new()),
            notify: Box::new(notify),
        }
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new(|| ())
    }
}

/// What the worker owns and hands back when it stops, so the analysis survives a
/// deactivation or a sample-rate change.
pub struct WorkerState {
    /// Producer side of the triple buffer the editor reads.
    pub meter_in: triple_buffer::Input<MeterState>,
    /// The worker's copy of what it publishes.
    pub meter: MeterState,
    /// The analyzer, or `None` to build one from the model path when the worker starts.
    pub analyzer: Option<Box<dyn Analyzer>>,
    integrated_sum: f64,
    integrated_count: u64,
    /// `Shared::tap.overflowed` at the last reset.
    overflow_base: u64,
    /// Non-finite samples replaced by streams that were reset since the last user reset.
    non_finite_done: u64,
    /// Mono samples taken from the ring since the last user reset.
    samples_received: u64,
}

impl WorkerState {
    /// A fresh state publishing to `meter_in`.
    pub fn new(meter_in: triple_buffer::Input<MeterState>) -> Self {
        Self {
            meter_in,
            meter: MeterState::default(),
            analyzer: None,
            integrated_sum: 0.0,
            integrated_count: 0,
            overflow_base: 0,
            non_finite_done: 0,
            samples_received: 0,
        }
    }

    /// Replaces the analysis results by saved ones (history, integrated estimate, counts).
    pub fn restore(&mut self, saved: &PersistedAnalysis) {
        let m = &mut self.meter;
        m.history.clear();
        for p in &saved.history {
            m.history.push(*p);
        }
        self.integrated_sum = saved.integrated_sum;
        self.integrated_count = saved.integrated_count;
        m.integrated = saved
            .integrated
            .or_else(|| integrated(saved.integrated_sum, saved.integrated_count));
        m.momentary = saved.momentary;
        m.windows = saved.windows;
        m.seconds_analysed = saved.seconds_analysed;
        self.samples_received = saved.samples_received;
    }

    /// The analysis results to save.
    pub fn to_persisted(&self, out: &mut PersistedAnalysis) {
        out.history.clear();
        out.history.extend(self.meter.history.iter());
        out.integrated_sum = self.integrated_sum;
        out.integrated_count = self.integrated_count;
        out.windows = self.meter.windows;
        out.seconds_analysed = self.meter.seconds_analysed;
        out.momentary = self.meter.momentary;
        out.integrated = self.meter.integrated;
        out.interval = self.meter.interval();
        out.samples_received = self.samples_received;
        out.ring_overflows = self.meter.ring_overflows;
        out.model_name.clear();
        out.model_name.push_str(self.meter.model_name.as_str());
    }

    /// Clears estimates, counters and history.
    fn clear(&mut self, tap_overflowed: u64) {
        let m = &mut self.meter;
        m.momentary = None;
        m.integrated = None;
        m.level = None;
        m.windows = 0;
        m.seconds_analysed = 0.0;
        m.ring_overflows = 0;
        m.non_finite_replaced = 0;
        m.n_tags = 0;
        m.history.clear();
        self.integrated_sum = 0.0;
        self.integrated_count = 0;
        self.overflow_base = tap_overflowed;
        self.non_finite_done = 0;
        self.samples_received = 0;
    }

    /// Folds one window's estimate in; `alpha` is the smoothing step (1 = no smoothing).
    fn apply(&mut self, e: &WindowEstimate, alpha: f32) {
        let m = &mut self.meter;
        let popularity = e
            .popularity
            .filter(|p| p.is_finite())
            .map(|p| p.clamp(0.0, 100.0));
        let level = e.level.filter(|l| l.is_finite());
        if let Some(p) = popularity {
            m.momentary = Some(smooth(m.momentary, p, alpha));
            self.integrated_sum += p as f64;
            self.integrated_count += 1;
            m.integrated = e
                .integrated
                .filter(|p| p.is_finite())
                .map(|p| p.clamp(0.0, 100.0))
                .or_else(|| integrated(self.integrated_sum, self.integrated_count));
        }
        if let Some(l) = level {
            m.level = Some(smooth(m.level, l, alpha));
        }
        m.n_tags = e.n_tags.min(MAX_TAGS);
        m.top_tags = e.tags;
        m.history.push(HistoryPoint { popularity, level });
    }

    fn install(&mut self, analyzer: &dyn Analyzer, shared: &Shared) {
        self.meter.model_name = ShortName::new(analyzer.name());
        self.meter.has_model = analyzer.has_model();
        self.meter.is_demo = analyzer.is_demo();
        self.meter.interval_half_width = analyzer.interval_half_width();
        self.meter.n_tags = 0;
        if let Ok(mut names) = shared.tag_names.write() {
            names.clear();
            names.extend(analyzer.tag_names().iter().cloned());
        }
    }
}

fn integrated(sum: f64, count: u64) -> Option<f32> {
    (count > 0).then(|| (sum / count as f64) as f32)
}

fn smooth(prev: Option<f32>, x: f32, alpha: f32) -> f32 {
    match prev {
        Some(p) => p + alpha * (x - p),
        None => x,
    }
}

/// Smoothing step for windows `hop_s` seconds apart and a time constant `tau_s` seconds.
pub fn smoothing_alpha(hop_s: f64, tau_s: f64) -> f32 {
    if tau_s <= 0.0 || !tau_s.is_finite() {
        1.0
    } else {
        (1.0 - (-hop_s / tau_s).exp()) as f32
    }
}

/// A running analysis thread. Dropping it stops and joins the thread.
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<WorkerState>>,
}

impl Worker {
    /// Starts a worker reading `cons` (mono samples at `sample_rate` Hz) with the front end
    /// `cfg`. Call from the main thread (spawning allocates).
    pub fn spawn(
        cons: HeapCons<f32>,
        cfg: FrontEndConfig,
        sample_rate: f32,
        state: WorkerState,
        params: Arc<ChorderParams>,
        shared: Arc<Shared>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_thread = stop.clone();
        let handle = std::thread::Builder::new()
            .name("chorder-analysis".into())
            .spawn(move || {
                run(
                    cons,
                    &cfg,
                    sample_rate,
                    state,
                    &params,
                    &shared,
                    &stop_thread,
                )
            })?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and returns its state (`None` if the thread panicked).
    pub fn stop(mut self) -> Option<WorkerState> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Option<WorkerState> {
        self.stop.store(true, Ordering::Release);
        self.handle.take().and_then(|h| h.join().ok())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn run(
    mut cons: HeapCons<f32>,
    cfg: &FrontEndConfig,
    sample_rate: f32,
    mut st: WorkerState,
    params: &ChorderParams,
    shared: &Shared,
    stop: &AtomicBool,
) -> WorkerState {
    flush_denormals_on_this_thread();
    let rate = sample_rate.round();
    // An unusable rate (0, NaN) leaves no stream: audio is drained and dropped.
    let mut stream = (rate >= 1.0)
        .then(|| FrontEndStream::new(cfg, rate as u32).ok())
        .flatten();
    let hop_s = cfg.patch_hop_seconds();
    let mut analyzer = match st.analyzer.take() {
        Some(a) => a,
        None => make_analyzer(&read_path(params)),
    };
    st.install(analyzer.as_ref(), shared);
    st.meter.sample_rate = sample_rate;

    let mut seen_user = shared.user_resets.load(Ordering::Acquire);
    let mut seen_stream = shared.stream_resets.load(Ordering::Acquire);
    let mut seen_model = shared.model_reloads.load(Ordering::Acquire);
    let mut was_frozen = params.freeze.value();
    let mut buf = vec![0.0f32; READ_CHUNK];
    let mut patches: Vec<LogMelPatch> = Vec::new();
    let mut saved = PersistedAnalysis::default();
    let mut last_publish: Option<Instant> = None;
    // The saved state gets the model name (and everything else) as soon as the worker runs.
    let mut first = true;

    while !stop.load(Ordering::Acquire) {
        let mut changed = std::mem::take(&mut first);
        let mut restart_stream = false;

        let user = shared.user_resets.load(Ordering::Acquire);
        if user != seen_user {
            seen_user = user;
            st.clear(shared.tap.overflowed.load(Ordering::Relaxed));
            if let Some(s) = stream.as_mut() {
                s.reset();
            }
            analyzer.reset();
            changed = true;
        }
        let host = shared.stream_resets.load(Ordering::Acquire);
        if host != seen_stream {
            seen_stream = host;
            restart_stream = true;
        }
        let model = shared.model_reloads.load(Ordering::Acquire);
        if model != seen_model {
            seen_model = model;
            analyzer = make_analyzer(&read_path(params));
            st.install(analyzer.as_ref(), shared);
            restart_stream = true;
            changed = true;
        }
        let frozen = params.freeze.value();
        if frozen != was_frozen {
            was_frozen = frozen;
            // The audio skipped while frozen must not be glued to what follows.
            restart_stream |= !frozen;
            changed = true;
        }
        if restart_stream {
            if let Some(s) = stream.as_mut() {
                st.non_finite_done += s.non_finite_replaced();
                s.reset();
            }
            analyzer.reset();
        }
        shared
            .stream_resets_done
            .store(seen_stream, Ordering::Release);

        let n = cons.pop_slice(&mut buf);
        if n > 0 && !frozen {
            if let Some(s) = stream.as_mut() {
                analyzer.on_audio(rate as u32, &buf[..n]);
                s.push(&buf[..n], &mut patches);
                st.meter.seconds_analysed += n as f64 / sample_rate as f64;
                let alpha = smoothing_alpha(hop_s, params.smoothing.value() as f64);
                for p in patches.drain(..) {
                    st.meter.windows += 1;
                    // A panicking analyzer must not take the thread (and the meter) down.
                    match catch_unwind(AssertUnwindSafe(|| analyzer.on_patch(&p))) {
                        Ok(Some(e)) => st.apply(&e, alpha),
                        Ok(None) => {}
                        Err(_) => {
                            analyzer =
                                Box::new(LevelAnalyzer::new("analyzer panicked: level only"));
                            st.install(analyzer.as_ref(), shared);
                        }
                    }
                    changed = true;
                }
            }
        }
        st.samples_received += n as u64;

        st.meter.frozen = frozen;
        st.meter.ring_overflows = shared
            .tap
            .overflowed
            .load(Ordering::Relaxed)
            .saturating_sub(st.overflow_base);
        st.meter.non_finite_replaced =
            st.non_finite_done + stream.as_ref().map_or(0, |s| s.non_finite_replaced());
        // Saved after every chunk, so that a host reading the state sees `samples_received`
        // reach what it sent only once those samples' windows are in it.
        if changed || n > 0 {
            st.to_persisted(&mut saved);
            if let Ok(mut h) = params.history.write() {
                h.clone_from(&saved);
            }
        }
        shared.consumed.fetch_add(n as u64, Ordering::AcqRel);
        if changed || last_publish.is_none_or(|t| t.elapsed() >= PUBLISH_INTERVAL) {
            *st.meter_in.input_buffer_mut() = st.meter;
            st.meter_in.publish();
            (shared.notify)();
            last_publish = Some(Instant::now());
        }
        if n == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
    }
    if let Some(s) = stream.as_ref() {
        st.non_finite_done += s.non_finite_replaced();
    }
    st.analyzer = Some(analyzer);
    st
}

fn read_path(params: &ChorderParams) -> String {
    params
        .model_path
        .read()
        .map(|p| p.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_alpha_limits() {
        assert_eq!(smoothing_alpha(0.96, 0.0), 1.0);
        let a = smoothing_alpha(0.96, 0.96);
        assert!((a - (1.0 - (-1.0f32).exp())).abs() < 1e-6);
        assert!(smoothing_alpha(0.96, 60.0) < 0.02);
    }

    #[test]
    fn an_analyzer_integrated_estimate_wins_over_the_average() {
        let (input, _out) = triple_buffer::triple_buffer(&MeterState::default());
        let mut st = WorkerState::new(input);
        let est = |p: f32, i: f32| WindowEstimate {
            popularity: Some(p),
            integrated: Some(i),
            ..Default::default()
        };
        st.apply(&est(40.0, 70.0), 1.0);
        st.apply(&est(80.0, 72.5), 1.0);
        assert_eq!(st.meter.momentary, Some(80.0));
        assert_eq!(st.meter.integrated, Some(72.5));
    }

    #[test]
    fn apply_smooths_integrates_and_records() {
        let (input, _out) = triple_buffer::triple_buffer(&MeterState::default());
        let mut st = WorkerState::new(input);
        let est = |p: f32| WindowEstimate {
            popularity: Some(p),
            level: Some(1.0),
            ..Default::default()
        };
        st.apply(&est(40.0), 0.5);
        st.apply(&est(80.0), 0.5);
        st.apply(&est(f32::NAN), 0.5); // ignored as an estimate, still a history point
        assert_eq!(st.meter.momentary, Some(60.0));
        assert_eq!(st.meter.integrated, Some(60.0));
        assert_eq!(st.meter.history.len(), 3);
        let mut saved = PersistedAnalysis::default();
        st.to_persisted(&mut saved);
        let (input2, _o2) = triple_buffer::triple_buffer(&MeterState::default());
        let mut st2 = WorkerState::new(input2);
        st2.restore(&saved);
        assert_eq!(st2.meter.integrated, Some(60.0));
        assert_eq!(
            st2.meter.history.iter().collect::<Vec<_>>(),
            st.meter.history.iter().collect::<Vec<_>>()
        );
        st.clear(7);
        assert_eq!(st.meter.integrated, None);
        assert!(st.meter.history.is_empty());
        assert_eq!(st.overflow_base, 7);
    }
}
