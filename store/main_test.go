package store

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
)

// The test binary doubles as the child process of the lock and crash tests:
// run with childEnv set, it plays that part instead of running tests.
const (
	childEnv   = "TILLBOX_STORE_TEST_CHILD" // "hold", "write" or "drain"
	childDBEnv = "TILLBOX_STORE_TEST_DB"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "hold":
		os.Exit(childHold(os.Getenv(childDBEnv)))
	case "write":
		os.Exit(childWrite(os.Getenv(childDBEnv)))
	case "drain":
		os.Exit(childDrain(os.Getenv(childDBEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown child role")
		os.Exit(2)
	}
}

// childHold opens the database, says "ready" and holds it until its stdin
// closes.
func childHold(path string) int {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild runs the test binary in a child role and returns it with its
// stdout.
func startChild(t testing.TB, role, path string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childDBEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, bufio.NewScanner(stdout)
}

// childWrite commits in a loop until it is killed, printing "N SEQ" after
// each commit returned: commit N created sale crash-N with its command and
// event SEQ, finished sale crash-(N-1) and deleted its command.
func childWrite(path string) int {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := 0; ; i++ {
		var n, seq uint64
		// Two writes in three go through the journal: a kill then often
		// finds journaled writes not yet committed to bbolt.
		write := db.Journaled
		if i%3 == 0 {
			write = db.Update
		}
		err := write(func(tx *Tx) error {
			var err error
			if n, err = tx.NextCounter("crash"); err != nil {
				return err
			}
			ref := crashRef(n)
			lines := 3
			if n%50 == 0 {
				lines = 400 // overflow pages and growth now and then
			}
			if err := tx.CreateSale(testSale(ref, lines)); err != nil {
				return err
			}
			if err := tx.Enqueue(testCommand(ref, "create")); err != nil {
				return err
			}
			if seq, err = tx.AppendEvent(testEvent(ref, "created")); err != nil {
				return err
			}
			if n == 1 {
				return nil
			}
			prev, err := tx.Sale(crashRef(n - 1))
			if err != nil {
				return err
			}
			prev.State, prev.Final, prev.FinishedAt = "captured", true, t0
			if err := tx.PutSale(prev); err != nil {
				return err
			}
			cmds, err := tx.CommandsFor(prev.Reference)
			for _, c := range cmds {
				if err := tx.DeleteCommand(c.ID); err != nil {
					return err
				}
			}
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%d %d\n", n, seq)
	}
}

func crashRef(n uint64) string { return fmt.Sprintf("crash-%08d", n) }

// childDrain drains the outbox at path, 100 commands per durable commit, and
// prints its peak RSS in kB (Linux: VmHWM).
func childDrain(path string) int {
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		var n int
		err := db.Update(func(tx *Tx) error {
			cmds, err := tx.DueCommands(t0, 100)
			n = len(cmds)
			for _, c := range cmds {
				if err == nil {
					err = tx.DeleteCommand(c.ID)
				}
			}
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if n == 0 {
			break
		}
	}
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(peakRSSkB())
	return 0
}
