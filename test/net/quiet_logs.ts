// Imported first by the net tests: keeps expected warnings (refused handshakes,
// dropped connections) out of the test output unless GARAGE_LOG asks for them.
process.env.GARAGE_LOG ??= 'error';
