// Command ipcs reports System V IPC objects of the caller's IPC namespace, like util-linux ipcs.
//
// Debian's busybox has no ipcs applet, and critest runs `ipcs -m` inside its busybox image to
// check whether a shared memory segment created on the host is visible (host IPC namespace) or
// not (pod IPC namespace). The data come from /proc/sysvipc/{msg,shm,sem}, which the kernel
// renders for the reader's IPC namespace. Supported options:
//
//	ipcs [-a] [-q] [-m] [-s]
//
// -q, -m and -s select message queues, shared memory segments and semaphore arrays; -a or no
// option selects all three. The output follows util-linux's default format.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	shmDest   = 0o1000 // SHM_DEST: segment marked for destruction
	shmLocked = 0o2000 // SHM_LOCKED: segment locked in memory
)

// env is where ipcs reads its data from, so tests can substitute files.
type env struct {
	sysvipcDir string // normally /proc/sysvipc
	passwdFile string // normally /etc/passwd
}

func main() {
	os.Exit(run(os.Args[1:], env{sysvipcDir: "/proc/sysvipc", passwdFile: "/etc/passwd"}, os.Stdout, os.Stderr))
}

func run(args []string, e env, stdout, stderr io.Writer) int {
	var queues, shm, sems bool
	for _, arg := range args {
		if len(arg) < 2 || arg[0] != '-' {
			fmt.Fprintf(stderr, "ipcs: unexpected argument %q\nusage: ipcs [-a] [-q] [-m] [-s]\n", arg)
			return 1
		}
		for _, c := range arg[1:] {
			switch c {
			case 'a':
				queues, shm, sems = true, true, true
			case 'q':
				queues = true
			case 'm':
				shm = true
			case 's':
				sems = true
			default:
				fmt.Fprintf(stderr, "ipcs: unknown option -%c\nusage: ipcs [-a] [-q] [-m] [-s]\n", c)
				return 1
			}
		}
	}
	if !queues && !shm && !sems {
		queues, shm, sems = true, true, true
	}

	users := readUsers(e.passwdFile)
	var out bytes.Buffer
	if queues {
		if err := printQueues(&out, e, users); err != nil {
			fmt.Fprintf(stderr, "ipcs: %v\n", err)
			return 1
		}
	}
	if shm {
		if err := printSharedMemory(&out, e, users); err != nil {
			fmt.Fprintf(stderr, "ipcs: %v\n", err)
			return 1
		}
	}
	if sems {
		if err := printSemaphores(&out, e, users); err != nil {
			fmt.Fprintf(stderr, "ipcs: %v\n", err)
			return 1
		}
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		return 1
	}
	return 0
}

func printQueues(w io.Writer, e env, users map[uint64]string) error {
	rows, err := readTable(filepath.Join(e.sysvipcDir, "msg"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n------ Message Queues --------\n")
	fmt.Fprintf(w, "%-10s %-10s %-10s %-10s %-12s %-12s\n", "key", "msqid", "owner", "perms", "used-bytes", "messages")
	for _, r := range rows {
		fmt.Fprintf(w, "0x%08x %-10s %-10.10s %-10o %-12s %-12s\n",
			r.key(), r.get("msqid"), owner(users, r.get("uid")), r.perms()&0o777, r.get("cbytes"), r.get("qnum"))
	}
	fmt.Fprintln(w)
	return nil
}

func printSharedMemory(w io.Writer, e env, users map[uint64]string) error {
	rows, err := readTable(filepath.Join(e.sysvipcDir, "shm"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n------ Shared Memory Segments --------\n")
	fmt.Fprintf(w, "%-10s %-10s %-10s %-10s %-10s %-10s %-12s\n", "key", "shmid", "owner", "perms", "bytes", "nattch", "status")
	for _, r := range rows {
		perms := r.perms()
		var status []string
		if perms&shmDest != 0 {
			status = append(status, "dest")
		}
		if perms&shmLocked != 0 {
			status = append(status, "locked")
		}
		fmt.Fprintf(w, "0x%08x %-10s %-10.10s %-10o %-10s %-10s %-12s\n",
			r.key(), r.get("shmid"), owner(users, r.get("uid")), perms&0o777, r.get("size"), r.get("nattch"), strings.Join(status, " "))
	}
	fmt.Fprintln(w)
	return nil
}

func printSemaphores(w io.Writer, e env, users map[uint64]string) error {
	rows, err := readTable(filepath.Join(e.sysvipcDir, "sem"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n------ Semaphore Arrays --------\n")
	fmt.Fprintf(w, "%-10s %-10s %-10s %-10s %-10s\n", "key", "semid", "owner", "perms", "nsems")
	for _, r := range rows {
		fmt.Fprintf(w, "0x%08x %-10s %-10.10s %-10o %-10s\n",
			r.key(), r.get("semid"), owner(users, r.get("uid")), r.perms()&0o777, r.get("nsems"))
	}
	fmt.Fprintln(w)
	return nil
}

// row is one line of a /proc/sysvipc table, keyed by the header's column names.
type row map[string]string

func (r row) get(col string) string { return r[col] }

// key returns the IPC key; the kernel prints it as a signed decimal key_t.
func (r row) key() uint32 {
	k, err := strconv.ParseInt(r["key"], 10, 64)
	if err != nil {
		return 0
	}
	return uint32(k)
}

// perms returns the mode word, which the kernel prints in octal.
func (r row) perms() uint64 {
	p, err := strconv.ParseUint(r["perms"], 8, 32)
	if err != nil {
		return 0
	}
	return p
}

// readTable parses a /proc/sysvipc file: a header line of column names, then one row per object.
// A missing file means the kernel was built without System V IPC, which leaves the table empty.
func readTable(path string) ([]row, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() {
		return nil, nil
	}
	header := strings.Fields(sc.Text())
	var rows []row
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) < len(header) {
			return nil, fmt.Errorf("%s: row %q has %d fields, header has %d", path, sc.Text(), len(fields), len(header))
		}
		r := make(row, len(header))
		for i, name := range header {
			r[name] = fields[i]
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

// readUsers maps UIDs to user names from a passwd file; an unreadable file yields no names.
func readUsers(path string) map[uint64]string {
	users := map[uint64]string{}
	data, err := os.ReadFile(path)
	if err != nil {
		return users
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.Split(line, ":")
		if len(parts) < 3 {
			continue
		}
		uid, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil {
			continue
		}
		if _, seen := users[uid]; !seen {
			users[uid] = parts[0]
		}
	}
	return users
}

func owner(users map[uint64]string, uid string) string {
	n, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return uid
	}
	if name, ok := users[n]; ok {
		return name
	}
	return uid
}
