package agent

// Sleep is the loops' sleep, for the tests.
var Sleep = sleep
