//! What the CLAP end-to-end tests share: a minimal clack-host host and the path of the
//! plugin library cargo built. Included with `mod common;` by each test file.

use std::path::PathBuf;

use clack_host::prelude::*;

/// Host callbacks the tests don't need to act on.
pub struct TestShared;

impl SharedHandler<'_> for TestShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

/// A host with no main-thread or audio-thread state of its own.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// The plugin library cargo built for this profile (newest of the uplifted and the deps copy).
pub fn plugin_library() -> PathBuf {
    let name = format!(
        "{}chorder_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [deps.join(&name), deps.parent().unwrap().join(&name)];
    candidates
        .iter()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p.clone())))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "no {name} near {}: build chorder-plugin first",
                deps.display()
            )
        })
}

/// A new instance of Chorder (`org.chorder.analyzer`) from a loaded CLAP entry.
pub fn new_instance(entry: &PluginEntry) -> PluginInstance<TestHost> {
    let host_info = HostInfo::new(
        "chorder-tests",
        "Chorder",
        "https://example.invalid",
        "0.1.0",
    )
    .unwrap();
    PluginInstance::<TestHost>::new(
        |_| TestShared,
        |_| (),
        entry,
        c"org.chorder.analyzer",
        &host_info,
    )
    .expect("instantiate")
}
