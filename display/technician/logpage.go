package technician

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// logLevels are the filters the log page offers.
var logLevels = []string{"debug", "info", "warn", "error"}

type logData struct {
	CSRF    string
	Level   string // the filter: debug, info, warn or error
	Levels  []string
	Records []LogRecord // newest last
	Last    uint64      // the newest record's sequence number
	NoTail  bool        // the page has no log tail
}

// logLevel is the filter of r: ?level=, default info.
func logLevel(r *http.Request) (string, slog.Level) {
	name := strings.ToLower(r.URL.Query().Get("level"))
	var l slog.Level
	if name == "" || l.UnmarshalText([]byte(name)) != nil {
		return "info", slog.LevelInfo
	}
	return name, l
}

func (c *Console) records(after uint64, min slog.Level) []LogRecord {
	if c.o.Log == nil {
		return nil
	}
	return c.o.Log.Records(after, min)
}

// logPage shows the tail of the log, newest last; log.js keeps it going.
func (c *Console) logPage(w http.ResponseWriter, r *http.Request, s ctxSession) {
	name, level := logLevel(r)
	d := logData{CSRF: s.s.csrf, Level: name, Levels: logLevels, Records: c.records(0, level), NoTail: c.o.Log == nil}
	if c.o.Log != nil {
		d.Last = c.o.Log.last()
	}
	c.render(w, http.StatusOK, "log.html", d)
}

// logJSON is the records after ?after= at ?level= or above, and the
// newest sequence number.
func (c *Console) logJSON(w http.ResponseWriter, r *http.Request, s ctxSession) {
	_, level := logLevel(r)
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	out := struct {
		Last    uint64      `json:"last"`
		Records []LogRecord `json:"records"`
	}{Records: c.records(after, level)}
	if c.o.Log != nil {
		out.Last = c.o.Log.last()
	}
	if out.Records == nil {
		out.Records = []LogRecord{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
