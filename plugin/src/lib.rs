//! The Chorder plugin (skeleton: the CLAP/VST3 plugin and standalone app land here; see the
//! live-plugin issue).
