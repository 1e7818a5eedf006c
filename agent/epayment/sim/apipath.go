package sim

import (
	"net/http"
	"strings"
)

// The gateway matches the paths of its APIs whatever their case: the
// official Postman collections call POST /accessToken/get, the
// documentation /accesstoken/get. The simulator does the same for the
// fixed parts of its APIs' paths; a path's variables (a reference, an id)
// keep their case, and the /sim control API matches exactly.

// withAPIPath returns r, or r with its path written in the case of the
// simulated API path it matches when only its case differs.
func (s *Server) withAPIPath(r *http.Request) *http.Request {
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		return r
	}
	if _, pattern := s.mux.Handler(r); pattern != "/" {
		return r // matched as it is (or a redirect the mux makes)
	}
	p := s.apiPath(r.URL.Path)
	if p == "" {
		return r
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = p, ""
	return r2
}

// apiPath is path in the case of the API pattern it matches ignoring case,
// or "" when it matches none.
func (s *Server) apiPath(path string) string {
	segs := strings.Split(path, "/")
	for _, pat := range s.apiPaths {
		if len(pat) != len(segs) {
			continue
		}
		out := make([]string, len(segs))
		ok := true
		for i, p := range pat {
			switch {
			case strings.HasPrefix(p, "{"):
				ok = segs[i] != ""
				out[i] = segs[i]
			case strings.EqualFold(p, segs[i]):
				out[i] = p
			default:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok {
			return strings.Join(out, "/")
		}
	}
	return ""
}
