//! `--help` explains itself (issue 22): every verb and argument of the real binaries is described,
//! closed sets list their values, short flags agree across verbs, the examples parse; shell
//! completions and manual pages are generated from the same definitions.

use std::path::Path;
use std::process::Command;

use edgeserve_daemon::cli::args;
use edgeserve_tests::bin;

fn run(binary: &str, argv: &[&str]) -> String {
    let out = Command::new(bin(binary)).args(argv).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{binary} {argv:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every visible command of a tree with its path below the root (the root itself included).
fn commands(cmd: &clap::Command) -> Vec<(Vec<String>, clap::Command)> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        out.push((path.clone(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p, out);
        }
    }
    let mut cmd = cmd.clone();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, Vec::new(), &mut out);
    out
}

fn own_args(cmd: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    cmd.get_arguments().filter(|a| {
        let id = a.get_id().as_str();
        !a.is_hide_set() && id != "help" && id != "version"
    })
}

#[test]
fn every_verb_and_argument_is_described_in_the_real_help() {
    for (binary, tree) in [("edgeserve", args::command()), ("edgeserved", args::daemon_command())] {
        for (path, cmd) in commands(&tree) {
            let name = format!("{binary} {}", path.join(" "));
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(!about.trim().is_empty(), "`{name}` has no description");
            let mut argv: Vec<&str> = path.iter().map(String::as_str).collect();
            argv.push("--help");
            let help = run(binary, &argv);
            for arg in own_args(&cmd) {
                let id = arg.get_id().as_str();
                let text = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(!text.trim().is_empty(), "`{name}`: argument {id} has no help text");
                let first_words: String =
                    text.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
                let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(flat.contains(&first_words), "`{name} --help` lacks {id}'s help:\n{help}");
                if let Some(long) = arg.get_long() {
                    assert!(help.contains(&format!("--{long}")), "`{name} --help` lacks --{long}");
                }
                for value in arg.get_possible_values().iter().filter(|v| !v.is_hide_set()) {
                    assert!(
                        help.contains(value.get_name()),
                        "`{name} --help` does not list {} for {id}:\n{help}",
                        value.get_name()
                    );
                }
            }
        }
    }
}

#[test]
fn closed_sets_list_their_values() {
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["endpoint", "create", "--help"],
            &["key, token, oidc, none", "tls, plain", "enabled, disabled"],
        ),
        (&["endpoint", "regenerate-keys", "--help"], &["primary, secondary, token-signing"]),
        (&["deployment", "create", "--help"], &["cpu, gpu, fpga"]),
        (&["status", "-h"], &["json, table"]),
        (&["--help"], &["- json:", "- table:"]),
        (&["completions", "--help"], &["bash", "zsh", "fish"]),
    ];
    for (argv, wanted) in cases {
        let help = run("edgeserve", argv);
        for w in wanted {
            assert!(help.contains(w), "edgeserve {argv:?} lacks {w:?}:\n{help}");
        }
    }
    // A value outside the set is refused by the CLI with the allowed ones.
    let out = Command::new(bin("edgeserve"))
        .args(["deployment", "create", "-n", "x", "-e", "y", "--target", "tpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("[possible values: cpu, gpu, fpga]"), "{err}");
}

#[test]
fn short_flags_mean_the_same_everywhere() {
    let expected = [("name", 'n'), ("endpoint", 'e'), ("file", 'f'), ("output", 'o')];
    let mut seen_name = 0;
    for (path, cmd) in commands(&args::command()) {
        let name = format!("edgeserve {}", path.join(" "));
        for arg in own_args(&cmd) {
            let id = arg.get_id().as_str();
            if let Some((_, short)) = expected.iter().find(|(i, _)| *i == id) {
                assert_eq!(arg.get_short(), Some(*short), "`{name}`: --{id} should be -{short}");
                seen_name += usize::from(id == "name");
            }
            if let Some(short) = arg.get_short() {
                if let Some((other, _)) = expected.iter().find(|(_, s)| *s == short) {
                    assert_eq!(id, *other, "`{name}`: -{short} is taken by --{id}");
                }
            }
        }
    }
    assert!(seen_name >= 15, "only {seen_name} --name arguments found");
    // Short forms work on the real binary; the long ones keep working.
    let help = run("edgeserve", &["model", "register", "--help"]);
    assert!(help.contains("-n, --name") && help.contains("-v, --version"), "{help}");
    let help = run("edgeserve", &["deployment", "show", "--help"]);
    assert!(help.contains("-n, --name") && help.contains("-e, --endpoint"), "{help}");
    let version = run("edgeserve", &["-V"]);
    assert!(version.starts_with("edgeserve "), "{version}");
}

#[test]
fn each_binary_has_its_own_description_and_examples() {
    let cli = run("edgeserve", &["--help"]);
    let daemon = run("edgeserved", &["--help"]);
    let (cli_line, daemon_line) = (cli.lines().next().unwrap(), daemon.lines().next().unwrap());
    assert!(cli_line.starts_with("Operate an edgeserved box"), "{cli}");
    assert!(daemon_line.starts_with("The edgeserve inference daemon"), "{daemon}");
    assert!(daemon.contains("Examples:\n  edgeserved --demo"), "{daemon}");
    let (_, tail) = daemon.split_once("\nExamples:\n").unwrap();
    for line in tail.lines().take_while(|l| l.starts_with("  ")) {
        for part in line.split(';') {
            let words = shell_words(part.split(" > ").next().unwrap().trim());
            let Some(start) = words.iter().position(|w| w == "edgeserved") else { continue };
            if let Err(e) = args::daemon_command().try_get_matches_from(&words[start..]) {
                panic!("example `{line}` does not parse: {e}");
            }
        }
    }
    // Every top-level verb's long help shows examples, and every example parses.
    let mut examples = Vec::new();
    for (path, _) in commands(&args::command()).into_iter().filter(|(p, _)| p.len() <= 1) {
        if path.first().is_some_and(|p| p == "man") {
            continue;
        }
        let mut argv: Vec<&str> = path.iter().map(String::as_str).collect();
        argv.push("--help");
        let help = run("edgeserve", &argv);
        let (_, tail) = help
            .split_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("edgeserve {argv:?} shows no examples:\n{help}"));
        examples.extend(tail.lines().take_while(|l| l.starts_with("  ")).map(str::to_string));
    }
    assert!(examples.len() >= 30, "{examples:?}");
    for line in examples {
        for part in line.split(';') {
            let part = part.split(" > ").next().unwrap().trim();
            let words = shell_words(part);
            let start = words.iter().position(|w| w == "edgeserve");
            let Some(start) = start else { continue };
            if let Err(e) = args::command().try_get_matches_from(&words[start..]) {
                panic!("example `{line}` does not parse: {e}");
            }
        }
    }
}

/// Splits a command line on spaces, keeping "double-quoted words" together.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// What bash completion offers for `words` (the last one being completed), with `script` sourced.
pub(crate) fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _edgeserve edgeserve '{}' '{}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = Command::new("bash").arg("-c").arg(program).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for (shell, marker) in
        [("bash", "_edgeserve()"), ("zsh", "#compdef edgeserve"), ("fish", "complete -c edgeserve")]
    {
        let script = run("edgeserve", &["completions", shell]);
        assert!(script.len() > 1000 && script.contains(marker), "{shell}: {script}");
        for verb in ["endpoint", "deployment", "regenerate-keys", "token-signing"] {
            assert!(script.contains(verb), "{shell} completion lacks {verb}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("edgeserve");
    std::fs::write(&script, run("edgeserve", &["completions", "bash"])).unwrap();
    let verbs = bash_completes(&script, &["edgeserve", ""]);
    for verb in ["endpoint", "deployment", "model", "tls", "role", "status"] {
        assert!(verbs.iter().any(|v| v == verb), "{verb} not offered: {verbs:?}");
    }
    let values =
        bash_completes(&script, &["edgeserve", "endpoint", "regenerate-keys", "--key-type", ""]);
    assert_eq!(values, ["primary", "secondary", "token-signing"]);
}

/// `man -l` renders a page without groff warnings; returns the text.
pub(crate) fn render_man(page: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "man -l {}: {stderr}",
        page.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn man_pages_are_generated_and_render() {
    let dir = tempfile::tempdir().unwrap();
    for (binary, argv, header, file) in [
        ("edgeserve", &["man"][..], "\n.TH EDGESERVE 1 ", "edgeserve.1"),
        ("edgeserved", &["--print-man"][..], "\n.TH EDGESERVED 8 ", "edgeserved.8"),
    ] {
        let page = run(binary, argv);
        assert!(page.contains(header), "{page}");
        for section in
            [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS", ".SH EXAMPLES"]
        {
            assert!(page.contains(section), "{binary}: no {section}");
        }
        let path = dir.path().join(file);
        std::fs::write(&path, &page).unwrap();
        let text = render_man(&path);
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&format!("NAME {binary} - ")), "{text}");
    }
    // The CLI's page describes every verb with its arguments.
    let page = run("edgeserve", &["man"]);
    for (path, cmd) in commands(&args::command()).into_iter().skip(1) {
        let heading = format!(".SS \"edgeserve {}\"", path.join(" ").replace('-', "\\-"));
        assert!(page.contains(&heading), "{heading}");
        for arg in own_args(&cmd).filter(|a| !a.is_global_set()) {
            if let Some(long) = arg.get_long() {
                assert!(page.contains(&format!("\\-\\-{}", long.replace('-', "\\-"))), "--{long}");
            }
        }
    }
}
