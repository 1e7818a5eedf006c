package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tillbox/tillbox/agent/fleet/wire"
	"github.com/tillbox/tillbox/cmd/tillbox-hq/internal/settings"
)

// settingsShow is `settings show`: the layers of the scope and, for each
// till in it, what the box made of its keys.
func settingsShow(ctx context.Context, st *settings.Settings, sc settings.Scope, w io.Writer) error {
	ov, err := st.Overview(ctx)
	if err != nil {
		return err
	}
	showLayer(w, "", "chain "+ov.Chain, ov.Layer)
	for _, s := range ov.Stores {
		if sc.Level != wire.LevelChain && s.Store != sc.Store {
			continue
		}
		fmt.Fprintln(w)
		showLayer(w, "", "store "+s.Store, s.Layer)
		if s.Layer.Revision > 0 {
			fmt.Fprintf(w, "  its tills on revision %d: %d applied, %d refused, %d waiting\n",
				s.Layer.Revision, s.Applied, s.Refused, s.Waiting)
		}
		for _, t := range s.Tills {
			if sc.Level == wire.LevelTill && t.Till.Till != sc.Till {
				continue
			}
			showTill(w, t)
		}
	}
	return nil
}

func showLayer(w io.Writer, indent, name string, l settings.Layer) {
	if l.Revision == 0 {
		fmt.Fprintf(w, "%s%s (%s): never set\n", indent, name, l.Key)
		return
	}
	fmt.Fprintf(w, "%s%s (%s) revision %d, by %s at %s", indent, name, l.Key, l.Revision, orNone(l.By),
		l.At.UTC().Format(time.RFC3339))
	if l.Note != "" {
		fmt.Fprintf(w, ", note %q", l.Note)
	}
	fmt.Fprintln(w)
	printLayer(w, indent+"  ", l)
}

func showTill(w io.Writer, t settings.TillView) {
	heard := "never heard of"
	if !t.HeardAt.IsZero() {
		heard = "heard of at " + t.HeardAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "  till %s (%s)\n", t.Till.Till, heard)
	if t.Layer.Revision > 0 {
		showLayer(w, "    ", "own layer", t.Layer)
	}
	switch {
	case t.HeardAt.IsZero():
		return
	case !t.Reports:
		fmt.Fprintln(w, "    takes no configuration from headquarters (its heartbeat says nothing of it)")
		return
	case !t.HasKey:
		fmt.Fprintln(w, "    has no key for sealed secrets")
	}
	var keys []string
	for _, k := range t.Keys {
		s := fmt.Sprintf("%s %s", k.Level, k.State)
		switch k.State {
		case settings.StateApplied, settings.StateRefused:
			s += fmt.Sprintf(" r%d", k.Current)
		case settings.StateWaiting:
			s += fmt.Sprintf(" r%d (runs r%d)", k.Current, k.Applied)
		}
		keys = append(keys, s)
	}
	fmt.Fprintf(w, "    %s\n", strings.Join(keys, "; "))
	for _, r := range t.Refused {
		fmt.Fprintf(w, "    refused %s revision %d: %s: %s\n", r.Key, r.Revision, r.Field, r.Reason)
	}
	if len(t.Restart) > 0 {
		fmt.Fprintf(w, "    waiting for a restart: %s\n", strings.Join(t.Restart, ", "))
	}
}
