// Command pgrep lists the processes whose name matches a pattern, like procps-ng pgrep.
//
// Debian's busybox has no pgrep applet and critest runs `sh -c "pgrep sleep || true"` inside its
// busybox image to check that a timed-out exec left no process behind. This implements the
// commonly used subset of procps-ng's interface:
//
//	pgrep [-flacvnox] [-d DELIM] PATTERN
//
//	-f        match against the full command line instead of the process name
//	-x        require the whole name (or command line with -f) to match
//	-l        print the process name next to the PID (the command line with -f)
//	-a        print the full command line next to the PID
//	-c        print the number of matching processes instead of their PIDs
//	-v        negate the match
//	-n / -o   select only the newest / oldest matching process
//	-d DELIM  separate PIDs with DELIM instead of a newline
//
// PATTERN is a Go (RE2) regular expression, which covers the extended regular expressions such
// checks use. The process name is the kernel's comm (at most 15 bytes), as for procps. pgrep
// never lists itself. Exit status: 0 when something matched, 1 when nothing did, 2 on a usage
// error, 3 on a fatal error.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const (
	exitMatch   = 0
	exitNoMatch = 1
	exitUsage   = 2
	exitFatal   = 3
)

// options is the parsed command line.
type options struct {
	full, exact, listName, listFull, count, invert, newest, oldest bool
	delim                                                          string
	pattern                                                        string
}

// process is what pgrep knows about one process.
type process struct {
	pid       int
	name      string // comm
	cmdline   string // arguments joined with spaces; empty for kernel threads and zombies
	startTime uint64 // clock ticks after boot
}

func main() {
	os.Exit(run(os.Args[1:], "/proc", os.Getpid(), os.Stdout, os.Stderr))
}

// run is pgrep with its environment made explicit, for tests.
func run(args []string, procRoot string, self int, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "pgrep: %v\nusage: pgrep [-flacvnox] [-d DELIM] PATTERN\n", err)
		return exitUsage
	}
	expr := opts.pattern
	if opts.exact {
		expr = "^(?:" + expr + ")$"
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		fmt.Fprintf(stderr, "pgrep: invalid pattern %q: %v\n", opts.pattern, err)
		return exitUsage
	}
	procs, err := listProcesses(procRoot)
	if err != nil {
		fmt.Fprintf(stderr, "pgrep: %v\n", err)
		return exitFatal
	}
	var matched []process
	for _, p := range procs {
		if p.pid == self {
			continue
		}
		if matches(p, re, opts.full) != opts.invert {
			matched = append(matched, p)
		}
	}
	matched = selectNewestOldest(matched, opts)

	if opts.count {
		fmt.Fprintln(stdout, len(matched))
	} else {
		fmt.Fprint(stdout, format(matched, opts))
	}
	if len(matched) == 0 {
		return exitNoMatch
	}
	return exitMatch
}

// parseArgs parses pgrep's options; short options may be combined ("-fl").
func parseArgs(args []string) (options, error) {
	opts := options{delim: "\n"}
	var operands []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			operands = append(operands, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			operands = append(operands, arg)
			continue
		}
		for j := 1; j < len(arg); j++ {
			switch c := arg[j]; c {
			case 'f':
				opts.full = true
			case 'x':
				opts.exact = true
			case 'l':
				opts.listName = true
			case 'a':
				opts.listFull = true
			case 'c':
				opts.count = true
			case 'v':
				opts.invert = true
			case 'n':
				opts.newest = true
			case 'o':
				opts.oldest = true
			case 'd':
				if j+1 < len(arg) {
					opts.delim = arg[j+1:]
				} else if i+1 < len(args) {
					i++
					opts.delim = args[i]
				} else {
					return opts, errors.New("option -d needs an argument")
				}
				j = len(arg)
			default:
				return opts, fmt.Errorf("unknown option -%c", c)
			}
		}
	}
	if opts.newest && opts.oldest {
		return opts, errors.New("-n and -o are mutually exclusive")
	}
	switch len(operands) {
	case 0:
		return opts, errors.New("no matching criteria specified")
	case 1:
		opts.pattern = operands[0]
		return opts, nil
	default:
		return opts, fmt.Errorf("only one pattern can be provided, got %q", operands)
	}
}

// matches reports whether the pattern matches the process name, or its command line with -f.
// As in procps, -f falls back to the name for processes without a command line.
func matches(p process, re *regexp.Regexp, full bool) bool {
	if full && p.cmdline != "" {
		return re.MatchString(p.cmdline)
	}
	return re.MatchString(p.name)
}

func selectNewestOldest(procs []process, opts options) []process {
	if len(procs) == 0 || (!opts.newest && !opts.oldest) {
		return procs
	}
	best := procs[0]
	for _, p := range procs[1:] {
		if (opts.newest && p.startTime > best.startTime) || (opts.oldest && p.startTime < best.startTime) {
			best = p
		}
	}
	return []process{best}
}

// format renders the matched processes the way procps does.
func format(procs []process, opts options) string {
	if len(procs) == 0 {
		return ""
	}
	items := make([]string, 0, len(procs))
	for _, p := range procs {
		item := strconv.Itoa(p.pid)
		switch {
		case opts.listFull || (opts.listName && opts.full):
			if p.cmdline != "" {
				item += " " + p.cmdline
			} else {
				item += " " + p.name
			}
		case opts.listName:
			item += " " + p.name
		}
		items = append(items, item)
	}
	return strings.Join(items, opts.delim) + "\n"
}

// listProcesses reads every process under procRoot, sorted by PID. Processes that exit while
// being read are skipped.
func listProcesses(procRoot string) ([]process, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("reading process table: %w", err)
	}
	var procs []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		p, err := readProcess(filepath.Join(procRoot, e.Name()), pid)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, errVanished) {
				continue
			}
			return nil, err
		}
		procs = append(procs, p)
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i].pid < procs[j].pid })
	return procs, nil
}

// errVanished marks a process that disappeared while it was being read.
var errVanished = errors.New("process vanished")

func readProcess(dir string, pid int) (process, error) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return process{}, err
	}
	name, start, err := parseStat(stat)
	if err != nil {
		return process{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		// ESRCH and friends: the process exited between the two reads.
		return process{}, errVanished
	}
	return process{pid: pid, name: name, cmdline: joinCmdline(raw), startTime: start}, nil
}

// parseStat extracts comm and starttime from /proc/PID/stat. comm is enclosed in parentheses and
// may itself contain spaces and parentheses, so it ends at the last ')'.
func parseStat(stat []byte) (name string, startTime uint64, err error) {
	open := bytes.IndexByte(stat, '(')
	closing := bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return "", 0, errors.New("malformed stat line: no command name")
	}
	name = string(stat[open+1 : closing])
	// Fields after comm start with field 3 (state); starttime is field 22.
	rest := strings.Fields(string(stat[closing+1:]))
	const startTimeIndex = 22 - 3
	if len(rest) <= startTimeIndex {
		return "", 0, fmt.Errorf("malformed stat line: %d fields after the command name", len(rest))
	}
	startTime, err = strconv.ParseUint(rest[startTimeIndex], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("malformed starttime %q: %w", rest[startTimeIndex], err)
	}
	return name, startTime, nil
}

// joinCmdline turns the NUL-separated /proc/PID/cmdline into a space-separated string.
func joinCmdline(raw []byte) string {
	raw = bytes.TrimRight(raw, "\x00")
	return string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '}))
}
