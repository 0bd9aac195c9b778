# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_penctl_global_optspecs
    string join \n socket= json h/help V/version
end

function __fish_penctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_penctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_penctl_using_subcommand
    set -l cmd (__fish_penctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c penctl -n "__fish_penctl_needs_command" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_needs_command" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_needs_command" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_needs_command" -s V -l version -d 'Print version'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "list" -d 'List the pens pend knows'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "status" -d 'Show one pen\'s status, with what stops it being used right now'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "depth" -d 'Needle depth'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "session" -d 'Hold a treatment session and run commands in it, typed or piped, one per line: set DEPTH, start RATE, stop, status, identify, sleep MS, close. The pen is stopped and retracted when the session ends'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "watch" -d 'Print events as they happen (pens, sessions, depth, needling, faults)'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "calibrate" -d 'Calibrate a pen on the bench against a reference gauge touching its needle carriage'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "calibration" -d 'Calibration records'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "limits" -d 'Limits: signing tools (offline) and flashing (field service)'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "audit" -d 'The audit trail: who did what, when, with what outcome'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "identify" -d 'Make a pen blink and buzz, to tell which one it is'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "demo" -d 'Run pend with simulated pens in this process and walk through a short session'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "completions" -d 'Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell)'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "manpage" -d 'Print the manual page (roff)'
complete -c penctl -n "__fish_penctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand list" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand list" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand list" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand status" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand status" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and not __fish_seen_subcommand_from set help" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand depth; and not __fish_seen_subcommand_from set help" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and not __fish_seen_subcommand_from set help" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and not __fish_seen_subcommand_from set help" -f -a "set" -d 'Set the needle depth once: opens a session, sets the depth, waits until it is reached, closes the session (which retracts the pen). Refused (never clamped) over the ceiling. For treatments, use `penctl session`'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and not __fish_seen_subcommand_from set help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and __fish_seen_subcommand_from set" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand depth; and __fish_seen_subcommand_from set" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set the needle depth once: opens a session, sets the depth, waits until it is reached, closes the session (which retracts the pen). Refused (never clamped) over the ceiling. For treatments, use `penctl session`'
complete -c penctl -n "__fish_penctl_using_subcommand depth; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand session" -l name -d 'Name shown to other clients while the session is held' -r
complete -c penctl -n "__fish_penctl_using_subcommand session" -l wait -d 'If another client holds the pen, wait this many seconds for it' -r
complete -c penctl -n "__fish_penctl_using_subcommand session" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand session" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand session" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand watch" -l count -d 'Stop after this many events' -r
complete -c penctl -n "__fish_penctl_using_subcommand watch" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand watch" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand watch" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand calibrate" -l gauge -d 'The gauge: sylvac:PORT, mitutoyo:PORT[,calibrated=YYYY-MM-DD], or sim (the simulated gauge, for simulated pens; sim:silent, sim:garbled, sim:over-range, sim:unplug-after=N inject faults)' -r
complete -c penctl -n "__fish_penctl_using_subcommand calibrate" -l points -d 'Depths to measure, comma-separated micrometres [default: 0,200,400,600,800,1000]' -r
complete -c penctl -n "__fish_penctl_using_subcommand calibrate" -l repeats -d 'Readings per point and direction [default: 3]' -r
complete -c penctl -n "__fish_penctl_using_subcommand calibrate" -l tolerance -d 'Tolerance, +/- micrometres [default: 10]' -r
complete -c penctl -n "__fish_penctl_using_subcommand calibrate" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand calibrate" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand calibrate" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and not __fish_seen_subcommand_from show export help" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and not __fish_seen_subcommand_from show export help" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and not __fish_seen_subcommand_from show export help" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and not __fish_seen_subcommand_from show export help" -f -a "show" -d 'Show the pen\'s latest calibration record'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and not __fish_seen_subcommand_from show export help" -f -a "export" -d 'Write the pen\'s latest calibration certificate (JSON) and error plot (SVG) to DIR'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and not __fish_seen_subcommand_from show export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from show" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from show" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from export" -l out -d 'Where to write' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from export" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from export" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show the pen\'s latest calibration record'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write the pen\'s latest calibration certificate (JSON) and error plot (SVG) to DIR'
complete -c penctl -n "__fish_penctl_using_subcommand calibration; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -f -a "keygen" -d 'Make a new signing key pair (offline; no daemon needed)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -f -a "sign" -d 'Sign a limits bundle for one pen (offline; no daemon needed)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -f -a "show" -d 'Show the limits a pen holds'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -f -a "flash" -d 'Check a bundle and flash it into the pen (stage, verify, commit)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and not __fish_seen_subcommand_from keygen sign show flash help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from keygen" -l out -d 'Where to write NAME.key (secret, mode 0600) and NAME.pub' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from keygen" -l name -d 'The key files\' name' -r
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from keygen" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from keygen" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from keygen" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l key -d 'The secret key file' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l pen -d 'The pen\'s serial number (in full)' -r
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l max-depth -d 'Maximum depth: 0.8mm, 800um or 0.8 (at most 1.000 mm)' -r
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l stroke-rate -d 'Allowed stroke rates, strokes per second: MIN-MAX' -r
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l calibration-interval-days -d 'Days a calibration stays valid' -r
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l counter -d 'The bundle\'s counter; must exceed the pen\'s [default: the issue time in seconds]' -r
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l out -d 'Where to write the bundle' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from sign" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from show" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from show" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from flash" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from flash" -l dry-run -d 'Only check: show every check\'s result and what would change'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from flash" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from flash" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "keygen" -d 'Make a new signing key pair (offline; no daemon needed)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "sign" -d 'Sign a limits bundle for one pen (offline; no daemon needed)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show the limits a pen holds'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "flash" -d 'Check a bundle and flash it into the pen (stage, verify, commit)'
complete -c penctl -n "__fish_penctl_using_subcommand limits; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l pen -d 'Only entries about this pen (its full serial)' -r
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l since -d 'Only entries since this date (YYYY-MM-DD, UTC) or Unix time in seconds' -r
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l limit -d 'At most this many (the latest)' -r
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -f -a "verify" -d 'Check the trail\'s hash chain; name the first entry that was changed or removed'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the trail\'s hash chain; name the first entry that was changed or removed'
complete -c penctl -n "__fish_penctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand identify" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand identify" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand identify" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand demo" -l pens -d 'How many simulated pens' -r
complete -c penctl -n "__fish_penctl_using_subcommand demo" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand demo" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand demo" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand completions" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand completions" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand manpage" -l socket -d 'pend\'s socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service\'s /run/pend/pend.sock]' -r -F
complete -c penctl -n "__fish_penctl_using_subcommand manpage" -l json -d 'Print JSON for scripts instead of text for people'
complete -c penctl -n "__fish_penctl_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "list" -d 'List the pens pend knows'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "status" -d 'Show one pen\'s status, with what stops it being used right now'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "depth" -d 'Needle depth'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "session" -d 'Hold a treatment session and run commands in it, typed or piped, one per line: set DEPTH, start RATE, stop, status, identify, sleep MS, close. The pen is stopped and retracted when the session ends'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "watch" -d 'Print events as they happen (pens, sessions, depth, needling, faults)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "calibrate" -d 'Calibrate a pen on the bench against a reference gauge touching its needle carriage'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "calibration" -d 'Calibration records'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "limits" -d 'Limits: signing tools (offline) and flashing (field service)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "audit" -d 'The audit trail: who did what, when, with what outcome'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "identify" -d 'Make a pen blink and buzz, to tell which one it is'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "demo" -d 'Run pend with simulated pens in this process and walk through a short session'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "completions" -d 'Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "manpage" -d 'Print the manual page (roff)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and not __fish_seen_subcommand_from list status depth session watch calibrate calibration limits audit identify demo completions manpage help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from depth" -f -a "set" -d 'Set the needle depth once: opens a session, sets the depth, waits until it is reached, closes the session (which retracts the pen). Refused (never clamped) over the ceiling. For treatments, use `penctl session`'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from calibration" -f -a "show" -d 'Show the pen\'s latest calibration record'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from calibration" -f -a "export" -d 'Write the pen\'s latest calibration certificate (JSON) and error plot (SVG) to DIR'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from limits" -f -a "keygen" -d 'Make a new signing key pair (offline; no daemon needed)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from limits" -f -a "sign" -d 'Sign a limits bundle for one pen (offline; no daemon needed)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from limits" -f -a "show" -d 'Show the limits a pen holds'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from limits" -f -a "flash" -d 'Check a bundle and flash it into the pen (stage, verify, commit)'
complete -c penctl -n "__fish_penctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Check the trail\'s hash chain; name the first entry that was changed or removed'
