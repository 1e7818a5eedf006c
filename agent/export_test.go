package agent

// Sleep is the loops' sleep, for the tests.
var Sleep = sleep

// StateOfPayment is stateOfPayment, for the tests.
var StateOfPayment = stateOfPayment
