#compdef penctl

autoload -U is-at-least

_penctl() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_penctl_commands" \
"*::: :->penctl" \
&& ret=0
    case $state in
    (penctl)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
&& ret=0
;;
(depth)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_penctl__subcmd__depth_commands" \
"*::: :->depth" \
&& ret=0

    case $state in
    (depth)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-depth-command-$line[1]:"
        case $line[1] in
            (set)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
':depth -- Depth\: 0.5mm, 500um, or 0.5 (millimetres):_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__depth__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-depth-help-command-$line[1]:"
        case $line[1] in
            (set)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(session)
_arguments "${_arguments_options[@]}" : \
'--name=[Name shown to other clients while the session is held]:NAME:_default' \
'--wait=[If another client holds the pen, wait this many seconds for it]:SECONDS:_default' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
&& ret=0
;;
(watch)
_arguments "${_arguments_options[@]}" : \
'--count=[Stop after this many events]:N:_default' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(calibrate)
_arguments "${_arguments_options[@]}" : \
'--gauge=[The gauge\: sylvac\:PORT, mitutoyo\:PORT\[,calibrated=YYYY-MM-DD\], or sim (the simulated gauge, for simulated pens; sim\:silent, sim\:garbled, sim\:over-range, sim\:unplug-after=N inject faults)]:GAUGE:_default' \
'*--points=[Depths to measure, comma-separated micrometres \[default\: 0,200,400,600,800,1000\]]:POINTS:_default' \
'--repeats=[Readings per point and direction \[default\: 3\]]:REPEATS:_default' \
'--tolerance=[Tolerance, +/- micrometres \[default\: 10\]]:UM:_default' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
&& ret=0
;;
(calibration)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_penctl__subcmd__calibration_commands" \
"*::: :->calibration" \
&& ret=0

    case $state in
    (calibration)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-calibration-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
'--out=[Where to write]:DIR:_files' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__calibration__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-calibration-help-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(limits)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_penctl__subcmd__limits_commands" \
"*::: :->limits" \
&& ret=0

    case $state in
    (limits)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-limits-command-$line[1]:"
        case $line[1] in
            (keygen)
_arguments "${_arguments_options[@]}" : \
'--out=[Where to write NAME.key (secret, mode 0600) and NAME.pub]:DIR:_files' \
'--name=[The key files'\'' name]:NAME:_default' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(sign)
_arguments "${_arguments_options[@]}" : \
'--key=[The secret key file]:FILE:_files' \
'--pen=[The pen'\''s serial number (in full)]:PEN:_default' \
'--max-depth=[Maximum depth\: 0.8mm, 800um or 0.8 (at most 1.000 mm)]:MAX_DEPTH:_default' \
'--stroke-rate=[Allowed stroke rates, strokes per second\: MIN-MAX]:STROKE_RATE:_default' \
'--calibration-interval-days=[Days a calibration stays valid]:DAYS:_default' \
'--counter=[The bundle'\''s counter; must exceed the pen'\''s \[default\: the issue time in seconds\]]:COUNTER:_default' \
'--out=[Where to write the bundle]:FILE:_files' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
&& ret=0
;;
(flash)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--dry-run[Only check\: show every check'\''s result and what would change]' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
':file -- The bundle file:_files' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__limits__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-limits-help-command-$line[1]:"
        case $line[1] in
            (keygen)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(sign)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(flash)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(audit)
_arguments "${_arguments_options[@]}" : \
'--pen=[Only entries about this pen (its full serial)]:PEN:_default' \
'--since=[Only entries since this date (YYYY-MM-DD, UTC) or Unix time in seconds]:SINCE:_default' \
'--limit=[At most this many (the latest)]:LIMIT:_default' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
":: :_penctl__subcmd__audit_commands" \
"*::: :->audit" \
&& ret=0

    case $state in
    (audit)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-audit-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__audit__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-audit-help-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(identify)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':pen -- Serial number, or a unique prefix of one:_default' \
&& ret=0
;;
(demo)
_arguments "${_arguments_options[@]}" : \
'--pens=[How many simulated pens]:PENS:_default' \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(manpage)
_arguments "${_arguments_options[@]}" : \
'--socket=[pend'\''s socket \[default\: \$XDG_RUNTIME_DIR/pend/pend.sock, else the system service'\''s /run/pend/pend.sock\]]:PATH:_files' \
'--json[Print JSON for scripts instead of text for people]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-help-command-$line[1]:"
        case $line[1] in
            (list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(depth)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__help__subcmd__depth_commands" \
"*::: :->depth" \
&& ret=0

    case $state in
    (depth)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-help-depth-command-$line[1]:"
        case $line[1] in
            (set)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(session)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(watch)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(calibrate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(calibration)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__help__subcmd__calibration_commands" \
"*::: :->calibration" \
&& ret=0

    case $state in
    (calibration)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-help-calibration-command-$line[1]:"
        case $line[1] in
            (show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(limits)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__help__subcmd__limits_commands" \
"*::: :->limits" \
&& ret=0

    case $state in
    (limits)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-help-limits-command-$line[1]:"
        case $line[1] in
            (keygen)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(sign)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(show)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(flash)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(audit)
_arguments "${_arguments_options[@]}" : \
":: :_penctl__subcmd__help__subcmd__audit_commands" \
"*::: :->audit" \
&& ret=0

    case $state in
    (audit)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:penctl-help-audit-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(identify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(demo)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(manpage)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_penctl_commands] )) ||
_penctl_commands() {
    local commands; commands=(
'list:List the pens pend knows' \
'status:Show one pen'\''s status, with what stops it being used right now' \
'depth:Needle depth' \
'session:Hold a treatment session and run commands in it, typed or piped, one per line\: set DEPTH, start RATE, stop, status, identify, sleep MS, close. The pen is stopped and retracted when the session ends' \
'watch:Print events as they happen (pens, sessions, depth, needling, faults)' \
'calibrate:Calibrate a pen on the bench against a reference gauge touching its needle carriage' \
'calibration:Calibration records' \
'limits:Limits\: signing tools (offline) and flashing (field service)' \
'audit:The audit trail\: who did what, when, with what outcome' \
'identify:Make a pen blink and buzz, to tell which one it is' \
'demo:Run pend with simulated pens in this process and walk through a short session' \
'completions:Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell)' \
'manpage:Print the manual page (roff)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl commands' commands "$@"
}
(( $+functions[_penctl__subcmd__audit_commands] )) ||
_penctl__subcmd__audit_commands() {
    local commands; commands=(
'verify:Check the trail'\''s hash chain; name the first entry that was changed or removed' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl audit commands' commands "$@"
}
(( $+functions[_penctl__subcmd__audit__subcmd__help_commands] )) ||
_penctl__subcmd__audit__subcmd__help_commands() {
    local commands; commands=(
'verify:Check the trail'\''s hash chain; name the first entry that was changed or removed' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl audit help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__audit__subcmd__help__subcmd__help_commands] )) ||
_penctl__subcmd__audit__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'penctl audit help help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__audit__subcmd__help__subcmd__verify_commands] )) ||
_penctl__subcmd__audit__subcmd__help__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'penctl audit help verify commands' commands "$@"
}
(( $+functions[_penctl__subcmd__audit__subcmd__verify_commands] )) ||
_penctl__subcmd__audit__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'penctl audit verify commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibrate_commands] )) ||
_penctl__subcmd__calibrate_commands() {
    local commands; commands=()
    _describe -t commands 'penctl calibrate commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibration_commands] )) ||
_penctl__subcmd__calibration_commands() {
    local commands; commands=(
'show:Show the pen'\''s latest calibration record' \
'export:Write the pen'\''s latest calibration certificate (JSON) and error plot (SVG) to DIR' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl calibration commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibration__subcmd__export_commands] )) ||
_penctl__subcmd__calibration__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'penctl calibration export commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibration__subcmd__help_commands] )) ||
_penctl__subcmd__calibration__subcmd__help_commands() {
    local commands; commands=(
'show:Show the pen'\''s latest calibration record' \
'export:Write the pen'\''s latest calibration certificate (JSON) and error plot (SVG) to DIR' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl calibration help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibration__subcmd__help__subcmd__export_commands] )) ||
_penctl__subcmd__calibration__subcmd__help__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'penctl calibration help export commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibration__subcmd__help__subcmd__help_commands] )) ||
_penctl__subcmd__calibration__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'penctl calibration help help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibration__subcmd__help__subcmd__show_commands] )) ||
_penctl__subcmd__calibration__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'penctl calibration help show commands' commands "$@"
}
(( $+functions[_penctl__subcmd__calibration__subcmd__show_commands] )) ||
_penctl__subcmd__calibration__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'penctl calibration show commands' commands "$@"
}
(( $+functions[_penctl__subcmd__completions_commands] )) ||
_penctl__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'penctl completions commands' commands "$@"
}
(( $+functions[_penctl__subcmd__demo_commands] )) ||
_penctl__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'penctl demo commands' commands "$@"
}
(( $+functions[_penctl__subcmd__depth_commands] )) ||
_penctl__subcmd__depth_commands() {
    local commands; commands=(
'set:Set the needle depth once\: opens a session, sets the depth, waits until it is reached, closes the session (which retracts the pen). Refused (never clamped) over the ceiling. For treatments, use \`penctl session\`' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl depth commands' commands "$@"
}
(( $+functions[_penctl__subcmd__depth__subcmd__help_commands] )) ||
_penctl__subcmd__depth__subcmd__help_commands() {
    local commands; commands=(
'set:Set the needle depth once\: opens a session, sets the depth, waits until it is reached, closes the session (which retracts the pen). Refused (never clamped) over the ceiling. For treatments, use \`penctl session\`' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl depth help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__depth__subcmd__help__subcmd__help_commands] )) ||
_penctl__subcmd__depth__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'penctl depth help help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__depth__subcmd__help__subcmd__set_commands] )) ||
_penctl__subcmd__depth__subcmd__help__subcmd__set_commands() {
    local commands; commands=()
    _describe -t commands 'penctl depth help set commands' commands "$@"
}
(( $+functions[_penctl__subcmd__depth__subcmd__set_commands] )) ||
_penctl__subcmd__depth__subcmd__set_commands() {
    local commands; commands=()
    _describe -t commands 'penctl depth set commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help_commands] )) ||
_penctl__subcmd__help_commands() {
    local commands; commands=(
'list:List the pens pend knows' \
'status:Show one pen'\''s status, with what stops it being used right now' \
'depth:Needle depth' \
'session:Hold a treatment session and run commands in it, typed or piped, one per line\: set DEPTH, start RATE, stop, status, identify, sleep MS, close. The pen is stopped and retracted when the session ends' \
'watch:Print events as they happen (pens, sessions, depth, needling, faults)' \
'calibrate:Calibrate a pen on the bench against a reference gauge touching its needle carriage' \
'calibration:Calibration records' \
'limits:Limits\: signing tools (offline) and flashing (field service)' \
'audit:The audit trail\: who did what, when, with what outcome' \
'identify:Make a pen blink and buzz, to tell which one it is' \
'demo:Run pend with simulated pens in this process and walk through a short session' \
'completions:Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell)' \
'manpage:Print the manual page (roff)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__audit_commands] )) ||
_penctl__subcmd__help__subcmd__audit_commands() {
    local commands; commands=(
'verify:Check the trail'\''s hash chain; name the first entry that was changed or removed' \
    )
    _describe -t commands 'penctl help audit commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__audit__subcmd__verify_commands] )) ||
_penctl__subcmd__help__subcmd__audit__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help audit verify commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__calibrate_commands] )) ||
_penctl__subcmd__help__subcmd__calibrate_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help calibrate commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__calibration_commands] )) ||
_penctl__subcmd__help__subcmd__calibration_commands() {
    local commands; commands=(
'show:Show the pen'\''s latest calibration record' \
'export:Write the pen'\''s latest calibration certificate (JSON) and error plot (SVG) to DIR' \
    )
    _describe -t commands 'penctl help calibration commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__calibration__subcmd__export_commands] )) ||
_penctl__subcmd__help__subcmd__calibration__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help calibration export commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__calibration__subcmd__show_commands] )) ||
_penctl__subcmd__help__subcmd__calibration__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help calibration show commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__completions_commands] )) ||
_penctl__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help completions commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__demo_commands] )) ||
_penctl__subcmd__help__subcmd__demo_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help demo commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__depth_commands] )) ||
_penctl__subcmd__help__subcmd__depth_commands() {
    local commands; commands=(
'set:Set the needle depth once\: opens a session, sets the depth, waits until it is reached, closes the session (which retracts the pen). Refused (never clamped) over the ceiling. For treatments, use \`penctl session\`' \
    )
    _describe -t commands 'penctl help depth commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__depth__subcmd__set_commands] )) ||
_penctl__subcmd__help__subcmd__depth__subcmd__set_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help depth set commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__help_commands] )) ||
_penctl__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__identify_commands] )) ||
_penctl__subcmd__help__subcmd__identify_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help identify commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__limits_commands] )) ||
_penctl__subcmd__help__subcmd__limits_commands() {
    local commands; commands=(
'keygen:Make a new signing key pair (offline; no daemon needed)' \
'sign:Sign a limits bundle for one pen (offline; no daemon needed)' \
'show:Show the limits a pen holds' \
'flash:Check a bundle and flash it into the pen (stage, verify, commit)' \
    )
    _describe -t commands 'penctl help limits commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__limits__subcmd__flash_commands] )) ||
_penctl__subcmd__help__subcmd__limits__subcmd__flash_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help limits flash commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__limits__subcmd__keygen_commands] )) ||
_penctl__subcmd__help__subcmd__limits__subcmd__keygen_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help limits keygen commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__limits__subcmd__show_commands] )) ||
_penctl__subcmd__help__subcmd__limits__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help limits show commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__limits__subcmd__sign_commands] )) ||
_penctl__subcmd__help__subcmd__limits__subcmd__sign_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help limits sign commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__list_commands] )) ||
_penctl__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help list commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__manpage_commands] )) ||
_penctl__subcmd__help__subcmd__manpage_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help manpage commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__session_commands] )) ||
_penctl__subcmd__help__subcmd__session_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help session commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__status_commands] )) ||
_penctl__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help status commands' commands "$@"
}
(( $+functions[_penctl__subcmd__help__subcmd__watch_commands] )) ||
_penctl__subcmd__help__subcmd__watch_commands() {
    local commands; commands=()
    _describe -t commands 'penctl help watch commands' commands "$@"
}
(( $+functions[_penctl__subcmd__identify_commands] )) ||
_penctl__subcmd__identify_commands() {
    local commands; commands=()
    _describe -t commands 'penctl identify commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits_commands] )) ||
_penctl__subcmd__limits_commands() {
    local commands; commands=(
'keygen:Make a new signing key pair (offline; no daemon needed)' \
'sign:Sign a limits bundle for one pen (offline; no daemon needed)' \
'show:Show the limits a pen holds' \
'flash:Check a bundle and flash it into the pen (stage, verify, commit)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl limits commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__flash_commands] )) ||
_penctl__subcmd__limits__subcmd__flash_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits flash commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__help_commands] )) ||
_penctl__subcmd__limits__subcmd__help_commands() {
    local commands; commands=(
'keygen:Make a new signing key pair (offline; no daemon needed)' \
'sign:Sign a limits bundle for one pen (offline; no daemon needed)' \
'show:Show the limits a pen holds' \
'flash:Check a bundle and flash it into the pen (stage, verify, commit)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'penctl limits help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__help__subcmd__flash_commands] )) ||
_penctl__subcmd__limits__subcmd__help__subcmd__flash_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits help flash commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__help__subcmd__help_commands] )) ||
_penctl__subcmd__limits__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits help help commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__help__subcmd__keygen_commands] )) ||
_penctl__subcmd__limits__subcmd__help__subcmd__keygen_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits help keygen commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__help__subcmd__show_commands] )) ||
_penctl__subcmd__limits__subcmd__help__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits help show commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__help__subcmd__sign_commands] )) ||
_penctl__subcmd__limits__subcmd__help__subcmd__sign_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits help sign commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__keygen_commands] )) ||
_penctl__subcmd__limits__subcmd__keygen_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits keygen commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__show_commands] )) ||
_penctl__subcmd__limits__subcmd__show_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits show commands' commands "$@"
}
(( $+functions[_penctl__subcmd__limits__subcmd__sign_commands] )) ||
_penctl__subcmd__limits__subcmd__sign_commands() {
    local commands; commands=()
    _describe -t commands 'penctl limits sign commands' commands "$@"
}
(( $+functions[_penctl__subcmd__list_commands] )) ||
_penctl__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'penctl list commands' commands "$@"
}
(( $+functions[_penctl__subcmd__manpage_commands] )) ||
_penctl__subcmd__manpage_commands() {
    local commands; commands=()
    _describe -t commands 'penctl manpage commands' commands "$@"
}
(( $+functions[_penctl__subcmd__session_commands] )) ||
_penctl__subcmd__session_commands() {
    local commands; commands=()
    _describe -t commands 'penctl session commands' commands "$@"
}
(( $+functions[_penctl__subcmd__status_commands] )) ||
_penctl__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'penctl status commands' commands "$@"
}
(( $+functions[_penctl__subcmd__watch_commands] )) ||
_penctl__subcmd__watch_commands() {
    local commands; commands=()
    _describe -t commands 'penctl watch commands' commands "$@"
}

if [ "$funcstack[1]" = "_penctl" ]; then
    _penctl "$@"
else
    compdef _penctl penctl
fi
