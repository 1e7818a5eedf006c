package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// TestCrashDuringCommits kills a writing process at random moments (SIGKILL:
// no deferred code, no Close) and checks after each kill that the file opens
// without complaint, passes Verify, and holds every commit the child saw
// returned (two in three of them journaled: Open replays what the journal
// holds beyond bbolt's last commit). This is a process crash: the kernel
// still writes the page cache out. Power loss is bbolt's and the journal's
// fdatasync discipline, not tested here (TestJournalRecovery copies the
// files as a power cut would leave them).
func TestCrashDuringCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "tillbox.db")
	const kills = 20
	total := 0
	for i := range kills {
		child, stdin, out := startChild(t, "write", path)
		lines := make(chan []string)
		go func() {
			var got []string
			for out.Scan() {
				got = append(got, out.Text())
			}
			lines <- got
		}()
		time.Sleep(time.Duration(5+rand.IntN(100)) * time.Millisecond)
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		reported := <-lines
		stdin.Close()
		if err := child.Wait(); err == nil {
			t.Fatalf("kill %d: child exited cleanly before it was killed", i)
		}
		total += len(reported)

		db, err := Open(path, Options{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("kill %d: Open after SIGKILL: %v", i, err)
		}
		if err := db.Verify(); err != nil {
			t.Fatalf("kill %d: Verify after SIGKILL: %v", i, err)
		}
		err = db.View(func(tx *Tx) error {
			for _, line := range reported {
				var n, seq uint64
				if _, err := fmt.Sscanf(line, "%d %d", &n, &seq); err != nil {
					return fmt.Errorf("child said %q: %w", line, err)
				}
				if _, err := tx.Sale(crashRef(n)); err != nil {
					return fmt.Errorf("commit %d was reported done: %w", n, err)
				}
				ev, err := tx.EventsAfter(seq-1, 1)
				if err != nil || len(ev) != 1 || ev[0].Seq != seq || ev[0].Reference != crashRef(n) {
					return fmt.Errorf("commit %d was reported done, but event %d is %+v (%v)", n, seq, ev, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		// Every commit wrote one sale and one event, and finished the one
		// before: exactly one sale is unfinished, with one command.
		st, err := db.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.LastSeq > 0 && (st.Sales != int(st.LastSeq) || st.Events != int(st.LastSeq) || st.Unfinished != 1 || st.Commands != 1) {
			t.Fatalf("kill %d: stats %+v do not add up", i, st)
		}
		if err := db.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	}
	if total == 0 {
		t.Fatal("the child never committed before it was killed")
	}
	t.Logf("%d kills, %d commits reported done, all present", kills, total)
	mustVerifyFile(t, path)
}
