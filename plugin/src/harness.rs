//! A minimal in-process host: drives [`Chorder`]'s `activate` / `process` / `deactivate`
//! without a DAW, for tests and benchmarks. Not used by the plugin itself.

use nice_plug::context::process::SendEventError;
use nice_plug::midi::PluginNoteEvent;
use nice_plug::prelude::*;

use crate::Chorder;

/// The host side of the contexts `activate` and `process` receive: no events, no transport.
pub struct HarnessContext {
    transport: Transport,
}

impl HarnessContext {
    /// A context reporting `sample_rate` Hz.
    pub fn new(sample_rate: f32) -> Self {
        Self {
            transport: Transport::new(sample_rate),
        }
    }
}

impl ActivateContext<Chorder> for HarnessContext {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute(&self, _task: ()) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

impl ProcessContext<Chorder> for HarnessContext {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute_background(&self, _task: ()) {}
    fn execute_gui(&self, _task: ()) {}
    fn transport(&self) -> &Transport {
        &self.transport
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<Chorder>> {
        None
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<Chorder>,
    ) -> Result<(), (PluginNoteEvent<Chorder>, SendEventError)> {
        Err((event, SendEventError::NoOutputBuffer))
    }
    fn set_latency_samples(&self, _samples: u32) {}
    fn request_restart(&self) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// Activates `plugin` for `channels` (1 or 2) in and out at `sample_rate` Hz with blocks of
/// at most `max_block` samples, then resets it, as a host does. Returns `activate`'s result.
pub fn activate(
    plugin: &mut Chorder,
    ctx: &mut HarnessContext,
    channels: u32,
    sample_rate: f32,
    max_block: u32,
) -> bool {
    let layout = if channels == 1 {
        Chorder::AUDIO_IO_LAYOUTS[1]
    } else {
        Chorder::AUDIO_IO_LAYOUTS[0]
    };
    let config = BufferConfig {
        sample_rate,
        min_buffer_size: None,
        max_buffer_size: max_block,
        process_mode: ProcessMode::Realtime,
    };
    let ok = plugin.activate(&layout, &config, ctx);
    plugin.reset();
    ok
}

/// A host buffer over `channels` (equal lengths, processed in place). Building it allocates:
/// do it outside any no-allocation scope.
pub fn buffer<'a>(channels: Vec<&'a mut [f32]>) -> Buffer<'a> {
    let n = channels.first().map_or(0, |c| c.len());
    assert!(
        channels.iter().all(|c| c.len() == n),
        "channels differ in length"
    );
    let mut b = Buffer::default();
    // SAFETY: the slices borrow live data for 'a, all of length n.
    unsafe {
        b.set_slices(n, move |slices| {
            slices.clear();
            slices.extend(channels);
        });
    }
    b
}

/// Calls `plugin.process` on `buffer` with no auxiliary buffers. Does not allocate.
pub fn process(
    plugin: &mut Chorder,
    ctx: &mut HarnessContext,
    buffer: &mut Buffer,
) -> ProcessStatus {
    let mut aux = AuxiliaryBuffers {
        inputs: &mut [],
        outputs: &mut [],
    };
    plugin.process(buffer, &mut aux, ctx)
}
