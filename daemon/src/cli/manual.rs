//! Manual pages (roff) and shell completions generated from the clap definitions in
//! [`super::args`]: `edgeserve man`, `edgeserved --print-man`, `edgeserve completions SHELL`.
//!
//! One page per binary: clap_mangen renders the NAME, SYNOPSIS, DESCRIPTION and OPTIONS
//! sections; a COMMANDS section then describes every verb with its own arguments, and an
//! EXAMPLES section repeats the long help's examples.

use std::fmt::Write as _;
use std::io::Write;

use clap_mangen::Man;

use super::args;

/// The `edgeserve(1)` page.
pub fn edgeserve_page() -> std::io::Result<Vec<u8>> {
    page(args::command(), "1")
}

/// The `edgeserved(8)` page.
pub fn edgeserved_page() -> std::io::Result<Vec<u8>> {
    page(args::daemon_command(), "8")
}

/// The `edgeserve` completion script for `shell` (generated into memory: clap_complete panics
/// on a failed write, e.g. a closed pipe).
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut args::command(), "edgeserve", &mut out);
    out
}

fn page(cmd: clap::Command, section: &str) -> std::io::Result<Vec<u8>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let name = cmd.get_name().to_string();
    let man = Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section(section)
        .date(page_date())
        .manual("edgeserve manual");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut text = String::new();
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        text.push_str(".SH COMMANDS\n");
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            commands(&mut text, sub, &name);
        }
    }
    if let Some(after) = cmd.get_after_long_help() {
        let after = after.to_string();
        let body = after.strip_prefix("Examples:\n").unwrap_or(&after);
        text.push_str(".SH EXAMPLES\n.nf\n");
        for line in body.lines() {
            let _ = writeln!(text, "{}", escape(line));
        }
        text.push_str(".fi\n");
    }
    out.extend_from_slice(text.as_bytes());
    man.render_version_section(&mut out)?;
    let _ = write!(
        out,
        ".SH \"SEE ALSO\"\n{}\n",
        if name == "edgeserve" { "\\fBedgeserved\\fR(8)" } else { "\\fBedgeserve\\fR(1)" }
    );
    Ok(out)
}

/// The page's date, YYYY-MM-DD: `SOURCE_DATE_EPOCH` when set (reproducible packages), else today.
fn page_date() -> String {
    let when = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap_or_else(std::time::SystemTime::now);
    humantime::format_rfc3339_seconds(when).to_string().chars().take(10).collect()
}

/// One `.SS` entry per verb: its path, what it does, and its own (non-global) arguments.
fn commands(text: &mut String, cmd: &clap::Command, parent: &str) {
    let path = format!("{parent} {}", cmd.get_name());
    let _ = writeln!(text, ".SS \"{}\"", escape(&path));
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        let _ = writeln!(text, "{}", escape(&about.to_string()));
    }
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.is_hide_set() || arg.is_global_set() || id == "help" || id == "version" {
            continue;
        }
        let mut head = Vec::new();
        if let Some(short) = arg.get_short() {
            head.push(format!("\\fB\\-{short}\\fR"));
        }
        if let Some(long) = arg.get_long() {
            head.push(format!("\\fB\\-\\-{}\\fR", escape(long)));
        }
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map(|n| n.to_string())
            .unwrap_or_else(|| id.to_uppercase());
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
        let mut line = head.join(", ");
        if head.is_empty() {
            line = format!("\\fI{}\\fR", escape(&value));
        } else if takes_value {
            line = format!("{line} \\fI{}\\fR", escape(&value));
        }
        let _ = writeln!(text, ".TP\n{line}");
        let mut help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if !values.is_empty() {
            help.push_str(&format!(" [possible values: {}]", values.join(", ")));
        }
        let _ = writeln!(text, "{}", escape(&help));
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        commands(text, sub, &path);
    }
}

/// Text as roff: backslashes and hyphens escaped, no line starting a request.
fn escape(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e").replace('-', "\\-");
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_themselves_and_every_verb() {
        let page = String::from_utf8(edgeserve_page().unwrap()).unwrap();
        assert!(page.contains(".SH NAME"), "{page}");
        assert!(page.contains(".SS \"edgeserve endpoint create\""), "{page}");
        assert!(page.contains("token\\-signing"), "{page}");
        let daemon = String::from_utf8(edgeserved_page().unwrap()).unwrap();
        assert!(daemon.contains("\n.TH EDGESERVED 8 "), "{daemon}");
        assert!(daemon.contains("\\-\\-check\\-config"), "{daemon}");
    }

    #[test]
    fn escape_guards_requests_and_backslashes() {
        assert_eq!(escape(".x -y\n'z \\"), "\\&.x \\-y\n\\&'z \\e");
    }
}
