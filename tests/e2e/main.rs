//! Volley's end-to-end tests, one module per area, in one binary so wasmtime links
//! once. They run the real `volley` binary (and the library) against real HTTP over
//! loopback: the simulator, llama.cpp's server, Triton, KServe, a registry.

mod support;

mod agent_apis;
mod agents;
mod authoring;
mod builtin;
mod cli_errors;
mod coldstart;
mod compare;
mod compat;
mod console;
mod datasets;
mod export;
mod foundation;
mod genai;
mod hostile;
mod hostile_answers;
mod hostile_egress;
mod hostile_files;
mod image;
mod kservers;
mod kube;
mod library;
mod loads;
mod metadata;
mod multimodal;
mod otlp;
mod packages;
mod prometheus;
mod protocols;
mod realserver;
mod registry_auth;
mod report_html;
mod sandbox;
mod scale;
mod slo_search;
mod store;
mod tls;
mod tokens;
mod trace_replay;
mod waits;
