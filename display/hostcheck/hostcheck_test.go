package hostcheck

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Handler is web.CheckHost (tested there): another name is refused, a
// configured one served.
func TestHandler(t *testing.T) {
	h := Handler(http.NotFoundHandler(), []string{"till7.shop.lan"})
	for host, want := range map[string]int{"evil.example": http.StatusMisdirectedRequest, "till7.shop.lan": http.StatusNotFound} {
		r := httptest.NewRequest("GET", "http://"+host+"/", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %s: %d, want %d", host, w.Code, want)
		}
	}
}
