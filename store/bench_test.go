package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkUpdateSale is the POS accepting a sale: one durable commit of the
// sale, its create command and its event (and the reference counter).
//
// Each iteration also appends 1 KiB to a file in the same directory and
// fdatasyncs it, untimed: "×raw" is the accept's mean time over that raw
// write's, measured side by side so that other load on the disk affects both
// alike. writes/commit counts bbolt's page writes (data pages, then the meta
// page; each group followed by an fdatasync).
//
//   - online: a shop's file (20 000 finished sales); between accepts, untimed,
//     the outbox worker deletes the command and the sale is finished, so the
//     outbox and the unfinished index stay small.
//   - offline: nothing is sent; the outbox and the unfinished index grow.
//
// The -journaled variants write the accept with DB.Journaled (one
// fdatasync of the journal) instead of Update (a bbolt commit: two).
func BenchmarkUpdateSale(b *testing.B) {
	accept := func(tx *Tx) error {
		n, err := tx.NextCounter("till-1")
		if err != nil {
			return err
		}
		ref := fmt.Sprintf("till-1-%08d", n)
		if err := tx.CreateSale(testSale(ref, 5)); err != nil {
			return err
		}
		if err := tx.Enqueue(testCommand(ref, "create")); err != nil {
			return err
		}
		_, err = tx.AppendEvent(testEvent(ref, "created"))
		return err
	}
	settle := func(tx *Tx) error {
		cmds, err := tx.Commands(0, 0)
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if err := tx.DeleteCommand(c.ID); err != nil {
				return err
			}
		}
		sales, err := tx.UnfinishedSales()
		for _, s := range sales {
			s.State, s.Final, s.FinishedAt = "captured", true, t0
			if err := tx.PutSale(&s); err != nil {
				return err
			}
		}
		return err
	}
	run := func(b *testing.B, path string, online, journaled bool) {
		db, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		raw, err := os.OpenFile(filepath.Join(filepath.Dir(path), "raw"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer raw.Close()
		buf := make([]byte, 1024)
		var rawTime, acceptTime time.Duration
		var writes int64
		for b.Loop() {
			b.StopTimer()
			start := time.Now()
			if _, err := raw.Write(buf); err != nil {
				b.Fatal(err)
			}
			if err := fdatasync(raw); err != nil {
				b.Fatal(err)
			}
			rawTime += time.Since(start)
			before := db.bolt.Stats()
			b.StartTimer()

			write := db.Update
			if journaled {
				write = db.Journaled
			}
			start = time.Now()
			if err := write(accept); err != nil {
				b.Fatal(err)
			}
			acceptTime += time.Since(start)

			b.StopTimer()
			after := db.bolt.Stats()
			writes += after.TxStats.GetWrite() - before.TxStats.GetWrite()
			if online {
				if err := db.Update(settle); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(acceptTime)/float64(rawTime), "×raw")
		b.ReportMetric(float64(rawTime.Microseconds())/float64(b.N), "raw-µs")
		b.ReportMetric(float64(writes)/float64(b.N), "writes/commit")
	}
	for _, journaled := range []bool{false, true} {
		suffix := ""
		if journaled {
			suffix = "-journaled"
		}
		b.Run("online"+suffix, func(b *testing.B) {
			path := buildFixture(b, func(tx *Tx, i int) error {
				if err := accept(tx); err != nil {
					return err
				}
				return settle(tx)
			}, 20_000)
			run(b, path, true, journaled)
		})
		b.Run("offline"+suffix, func(b *testing.B) {
			run(b, filepath.Join(b.TempDir(), "tillbox.db"), false, journaled)
		})
	}
}

// buildFixture writes a database quickly (NoSync) and returns its path.
func buildFixture(b testing.TB, fill func(tx *Tx, i int) error, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "tillbox.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	for start := 0; start < n; start += batch {
		err := db.Update(func(tx *Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				if err := fill(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// fill100kSales: 100 000 sales with a receipt and an event each; every
// 500th is unfinished, with its command queued.
func fill100kSales(tx *Tx, i int) error {
	ref := fmt.Sprintf("till-1-%08d", i)
	s := testSale(ref, 4)
	open := i%500 == 0
	if !open {
		s.State, s.Final, s.FinishedAt = "captured", true, t0.Add(time.Duration(i)*time.Second)
	}
	if err := tx.CreateSale(s); err != nil {
		return err
	}
	if _, err := tx.AppendEvent(testEvent(ref, s.State)); err != nil {
		return err
	}
	if open {
		return tx.Enqueue(testCommand(ref, "capture"))
	}
	return nil
}

// BenchmarkOpen100kSales is start-up to ready with 100 000 sales: Open, the
// unfinished sales to reconcile, the due commands, the stats. It also
// reports the file size and, once, what a full Verify of it costs and what
// the record check of Options.CheckRecords takes.
func BenchmarkOpen100kSales(b *testing.B) {
	path := buildFixture(b, fill100kSales, 100_000)
	ready := func() {
		db, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		err = db.View(func(tx *Tx) error {
			sales, err := tx.UnfinishedSales()
			if err != nil || len(sales) != 200 {
				return fmt.Errorf("%d unfinished sales, %v", len(sales), err)
			}
			_, err = tx.DueCommands(t0, 0)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Stats(); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		ready()
	}

	b.StopTimer()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := db.Verify(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "verify-ms")
	db.Close()
	// The record check tillbox run starts at Open (CheckRecords): every
	// record decoded in a read transaction, no page check.
	start = time.Now()
	db, err = Open(path, Options{CheckRecords: true})
	if err != nil {
		b.Fatal(err)
	}
	<-db.Checked()
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "check-ms")
	if err := db.Damage(); err != nil {
		b.Fatal(err)
	}
	db.Close()
}

// BenchmarkDrainCommands: the outbox worker taking the next due command and
// deleting it after its answer, from a queue of at least 10 000: one durable
// commit per command, or per 16 commands when answers arrive together.
// cpu-µs/cmd is the process's CPU time per command, user and system (the
// kernel's share of write and fdatasync included); user-µs/cmd is the user
// part.
func BenchmarkDrainCommands(b *testing.B) {
	for _, perCommit := range []int{1, 16} {
		b.Run(fmt.Sprintf("%d-per-commit", perCommit), func(b *testing.B) {
			n := max(b.N, 10_000)
			path := buildFixture(b, func(tx *Tx, i int) error {
				return tx.Enqueue(testCommand(fmt.Sprintf("till-1-%08d", i), "capture"))
			}, n)
			db, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.ResetTimer()
			user, sys := cpuTime()
			for done := 0; done < b.N; done += perCommit {
				err := db.Update(func(tx *Tx) error {
					cmds, err := tx.DueCommands(t0, min(perCommit, b.N-done))
					if err != nil {
						return err
					}
					if len(cmds) == 0 {
						return fmt.Errorf("outbox empty")
					}
					for _, c := range cmds {
						if err := tx.DeleteCommand(c.ID); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			user2, sys2 := cpuTime()
			if user2 > 0 {
				b.ReportMetric(float64((user2+sys2-user-sys).Microseconds())/float64(b.N), "cpu-µs/cmd")
				b.ReportMetric(float64((user2-user).Microseconds())/float64(b.N), "user-µs/cmd")
			}
		})
	}
}
