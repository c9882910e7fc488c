//! A command line the parser refuses, as one line: clap's message and its tip folded
//! together, then where to look (``see `volley run --help` ``); exit 2 ([`Exit::Usage`]).
//! `--help` and `--version` print as clap prints them.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::CommandFactory;
use clap::error::ErrorKind;
use volley::report::console::ConsoleWriter;

use super::Cli;
use super::exit::Exit;

/// A mistake in how a command was given that the parser cannot see (`--policy` before a
/// command it does not apply to): exit 2, like the parser's own.
#[derive(Debug)]
pub(crate) struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shows what the parser said about `argv` and gives the exit for it: help and version
/// as clap prints them (0), help for a command given without its subcommand (2), and any
/// refusal as one `error:` line (2).
pub(crate) fn refused(e: &clap::Error, argv: &[OsString]) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Exit::Ok.into()
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Exit::Usage.into()
        }
        _ => {
            ConsoleWriter::stderr().line(&format!("error: {}", one_line(&e.to_string(), argv)));
            Exit::Usage.into()
        }
    }
}

/// clap's rendered message (`error: …`, indented details, a `tip:`, the usage and a
/// pointer to `--help`) as one line: the message and its details and tips, then the
/// `--help` of the command that was being parsed.
pub(crate) fn one_line(rendered: &str, argv: &[OsString]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut in_usage = false;
    for line in rendered.lines() {
        let text = line.trim();
        if text.is_empty() {
            in_usage = false;
            continue;
        }
        if text.starts_with("Usage:") {
            in_usage = true;
            continue;
        }
        if in_usage || text.starts_with("For more information") {
            continue;
        }
        let text = text.strip_prefix("error:").map_or(text, str::trim_start);
        let detail = line.starts_with(char::is_whitespace) && !text.starts_with("tip:");
        match parts.last_mut() {
            // An indented detail (a missing argument, a possible value) joins its line.
            Some(last) if detail => {
                last.push_str(if last.ends_with(':') { " " } else { ", " });
                last.push_str(text);
            }
            _ => parts.push(text.to_string()),
        }
    }
    format!("{}; see `{} --help`", parts.join("; "), command_path(argv))
}

/// The (sub)command `argv` names, as far as the parser knows it: `volley run`,
/// `volley kube render`, or `volley`.
fn command_path(argv: &[OsString]) -> String {
    let mut command = Cli::command();
    let mut path = vec!["volley".to_string()];
    let mut words = argv.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        if word == "--policy" {
            words.next();
            continue;
        }
        if word.starts_with('-') {
            continue;
        }
        let Some(sub) = command.find_subcommand(word.as_ref()).cloned() else { break };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    path.join(" ")
}
