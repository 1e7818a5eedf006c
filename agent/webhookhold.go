package agent

// A verified webhook makes the agent settle its sale from a GET. While the
// sale's create is queued or on its way, the agent does not know yet that
// the payment exists, and a poll of a queued sale asks nothing: the
// webhook would be lost (with polling off, for good). So a webhook is held
// until its sale's command on its way has its answer committed, and then
// applied (a GET at once); a poll that asks ePayment applies it too.

// webhookArrived settles ref from a GET now, and again once the command of
// ref on its way (if any) has its answer committed.
func (a *Agent) webhookArrived(ref string) {
	a.mu.Lock()
	if a.heldHooks == nil {
		a.heldHooks = map[string]bool{}
	}
	a.heldHooks[ref] = true
	a.mu.Unlock()
	a.pollAt(ref, a.clock.Now())
}

// doneSending ends the send of command id of ref, its answer committed,
// and applies a webhook held meanwhile.
func (a *Agent) doneSending(ref string, id uint64) {
	a.mu.Lock()
	delete(a.inflight, ref)
	delete(a.sending, id)
	held := a.heldHooks[ref]
	delete(a.heldHooks, ref)
	a.mu.Unlock()
	if held {
		a.pollAt(ref, a.clock.Now())
	}
}

// webhookApplied is called by a poll about to ask ePayment of ref: the GET
// applies what a held webhook said, unless a command of ref is on its way
// (its answer may come after the GET's).
func (a *Agent) webhookApplied(ref string) {
	a.mu.Lock()
	if !a.inflight[ref] {
		delete(a.heldHooks, ref)
	}
	a.mu.Unlock()
}
