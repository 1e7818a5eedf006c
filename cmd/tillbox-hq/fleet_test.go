package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/tillbox/tillbox/display/technician"
)

// TestFleetPage: a user of the configuration logs in to the fleet page at
// / and reads the chain's tills and today's sales from PostgreSQL.
func TestFleetPage(t *testing.T) {
	hash, err := technician.HashPassword("fleet-password-1")
	if err != nil {
		t.Fatal(err)
	}
	till := tillOf("oslo", "t1")
	pg, ns := startPG(t), startNATS(t, till)
	h := startHQ(t, writeConfig(t, pg.DSN(), ns, 1, "[[user]]\nname = \"it\"\npassword_hash = \""+hash+"\"\n"))
	_, js := ns.hqClient(t)
	waitStreams(t, js)
	b := newBox(t, ns, till)
	b.start = time.Now().Add(-10 * time.Second)
	b.makeEvents(t, 6) // two sales, both completed
	b.mustShip(t, 1)
	b.heartbeat(t, 6)
	db := pgConn(t, pg.DSN())
	waitFor(t, 30*time.Second, "the events", func() bool { return countEvents(db, till) == 6 })

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	if code, _ := get(t, h.URL()+"/api/fleet"); code == http.StatusOK {
		t.Fatal("/api/fleet without a login")
	}
	resp, err := client.PostForm(h.URL()+"/login", url.Values{"name": {"it"}, "password": {"fleet-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var fleet struct {
		Tills, Connected int
		Stores           []struct {
			Store string
			Tills []struct {
				Till        string
				Connected   bool
				VippsOnline bool
				LastSeq     uint64
				AtHQ        uint64
				Scanners    []struct{ Name string }
			}
			Sales []struct {
				Currency         string
				Count, Completed int
				Amount, Captured int64
			}
		}
	}
	waitFor(t, 30*time.Second, "the till connected and caught up on the page", func() bool {
		// A box beats every heartbeat_interval (1 s here), and the page
		// calls it connected for three of them: beat as a box does, or a
		// loaded machine takes longer than that to get here.
		b.heartbeat(t, 6)
		resp, err := client.Get(h.URL() + "/api/fleet")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/api/fleet: %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&fleet); err != nil {
			t.Fatal(err)
		}
		return fleet.Connected == 1 && len(fleet.Stores) == 1 && len(fleet.Stores[0].Tills) == 1 && fleet.Stores[0].Tills[0].AtHQ == 6
	})
	st := fleet.Stores[0]
	tl := st.Tills[0]
	if st.Store != "oslo" || tl.Till != "t1" || !tl.VippsOnline || tl.LastSeq != 6 || len(tl.Scanners) != 1 {
		t.Errorf("the page's till: %+v", tl)
	}
	if len(st.Sales) != 1 || st.Sales[0].Count != 2 || st.Sales[0].Completed != 2 || st.Sales[0].Amount != 300 || st.Sales[0].Captured != 300 {
		t.Errorf("the page's sales today: %+v", st.Sales)
	}
}
