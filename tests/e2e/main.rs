//! Volley's end-to-end tests, one module per area, in one binary so wasmtime links
//! once. They run the real `volley` binary (and the library) against real HTTP over
//! loopback: the simulator, llama.cpp's server, Triton, KServe, a registry.

mod support;

mod authoring;
mod cli_errors;
mod coldstart;
mod compat;
mod datasets;
mod foundation;
mod genai;
mod hostile;
mod image;
mod kservers;
mod kube;
mod library;
mod loads;
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
mod tls;
mod tokens;
