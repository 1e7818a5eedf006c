// Package agenttest is the one test rig of a till for tests in other
// packages: a store on a file checked when the test ends (store/storetest),
// the ePayment simulator (agent/epayment/sim) over real HTTP on loopback,
// and an [agent.Agent] whose loops run until the test ends. A package's
// own parts (the POS API, the display's hub, the technician page) are
// built on it in that package's rig.
//
// With it come the helpers every such test needs: [Logs], a log capture
// safe for concurrent use, and [Until], a wait for a condition that fails
// the test naming what it waited for.
package agenttest
