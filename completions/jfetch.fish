# fish completion for jfetch(1).  Installed in
# share/fish/vendor_completions.d/, where fish loads it on first use.
#
# The options are those of `jfetch --help` (src/cli_args.c), one
# `complete` line each; tests/docs_check.sh checks that the lines name
# exactly those options, with the same short forms.

complete -c jfetch -e

# --report junit=FILE|json=FILE: the kind, then a file after the '='
function __jfetch_report
    set -l tok (commandline -ct)
    set -l tok (string replace -r -- '^--report=' '' $tok)
    if string match -qr -- '^(junit|json)=' $tok
        set -l kind (string replace -r -- '=.*' '=' $tok)
        set -l rest (string replace -r -- '^[^=]*=' '' $tok)
        for f in (__fish_complete_path $rest)
            printf '%s%s\n' $kind $f
        end
    else
        printf '%s\t%s\n' 'junit=' 'JUnit XML report' 'json=' 'JSON report'
    end
end

# --checksum ALGO=HEX|[ALGO=]FILE
function __jfetch_checksum
    set -l tok (commandline -ct)
    set -l tok (string replace -r -- '^--checksum=' '' $tok)
    if string match -qr -- '^(sha256|sha512|md5)=' $tok
        set -l algo (string replace -r -- '=.*' '=' $tok)
        for p in (__fish_complete_path (string replace -r -- '^[^=]*=' '' $tok))
            printf '%s%s\n' $algo $p
        end
    else
        printf '%s\t%s\n' 'sha256=' 'SHA-256 digest or list' \
            'sha512=' 'SHA-512 digest or list' 'md5=' 'MD5 digest or list'
        __fish_complete_path $tok
    end
end

# Input
complete -c jfetch -l check -d 'Check the input, list every error, fetch nothing'
complete -c jfetch -s i -l input-file -r -F -d 'URLs from FILE, one a line (- : stdin)'
complete -c jfetch -l jobs -r -F -d 'Jobs from a JSON / JSON Lines file (- : stdin)'
complete -c jfetch -l jobs-format -x -a 'json jsonl' -d 'Format of the job file'
complete -c jfetch -l shard -x -a 'auto auto/' -d 'Run only shard K of N (0-based); auto: from env'

# Running
complete -c jfetch -s j -l concurrency -x -d 'Transfers at once (default 16)'
complete -c jfetch -l deadline -x -d 'Cancel what still runs after this long'
complete -c jfetch -l per-host -x -d 'At most N transfers to one host at once'
complete -c jfetch -l per-host-rate -x -a '10/s 60/m 1000/h' -d 'At most N transfer starts to one host per unit'
complete -c jfetch -l rate -x -a '10/s 60/m 1000/h' -d 'At most N transfer starts per unit (retries too)'
complete -c jfetch -l threads -x -d 'Worker threads (default: one per CPU)'

# Retries and timeouts
complete -c jfetch -l connect-timeout -x -d 'Give up connecting after this long'
complete -c jfetch -l retries -x -d 'Retry transient failures N times (default 0)'
complete -c jfetch -l retry-delay -x -d 'Backoff base: waits double from it (default 1)'
complete -c jfetch -l retry-max-time -x -d 'Start no retry after this long'
complete -c jfetch -l speed-limit -x -d 'A transfer slower than this (bytes/s) is stalled'
complete -c jfetch -l speed-time -x -d '... after this long (a timeout)'
complete -c jfetch -l timeout -x -d 'Give up on an attempt after this long'

# Output and results
complete -c jfetch -l checksum -x -a '(__jfetch_checksum)' -d 'Verify sha256/sha512/md5: a digest or *sum file'
complete -c jfetch -s c -l continue -d 'Resume from an existing NAME.part'
complete -c jfetch -l create-dirs -d 'Create the directories an output path names'
complete -c jfetch -l format -x -d 'A line per job on stdout, e.g. %{id} %{path}'
complete -c jfetch -l fsync -d 'Fsync each file before it is renamed into place'
complete -c jfetch -l json -d 'One JSON result record per job on stdout'
complete -c jfetch -l max-filesize -x -d 'Fail a job whose body exceeds SIZE (K, M, G)'
complete -c jfetch -l no-progress -d 'No live progress display'
complete -c jfetch -s O -l output -r -F -d 'One job\'s body to FILE (- : all to stdout)'
complete -c jfetch -s o -l output-dir -x -a '(__fish_complete_directories)' -d 'Save files under DIR (default .)'
complete -c jfetch -l progress -x -a 'bar plain none' -d 'Live bar or a line per job'
complete -c jfetch -s q -l quiet -d 'No progress or summary; a line per failed job'
complete -c jfetch -l report -x -a '(__jfetch_report)' -d 'Write a JUnit XML or JSON report (repeatable)'
complete -c jfetch -l skip-existing -d 'Skip jobs whose file already exists'
complete -c jfetch -s v -l verbose -d 'A line per attempt on stderr (also with -q)'
complete -c jfetch -s w -l write-out -x -d 'A line per job on stdout (format string)'

# HTTP
complete -c jfetch -l cacert -r -F -d 'CA certificates to verify peers with'
complete -c jfetch -s H -l header -x -d 'Add a request header (repeatable)'
complete -c jfetch -s k -l insecure -d 'Do not verify TLS certificates'
complete -c jfetch -l limit-rate -x -d 'Cap each transfer at RATE bytes/s (K, M, G)'
complete -c jfetch -l limit-rate-total -x -d 'Cap all transfers together at RATE bytes/s'
complete -c jfetch -l max-redirs -x -d 'Follow at most N redirects (default 20)'
complete -c jfetch -s A -l user-agent -x -d 'User-Agent header (default jfetch/VERSION)'

# Information
complete -c jfetch -s h -l help -d 'Show the help and exit'
complete -c jfetch -l version -d 'Show versions and features, and exit'
