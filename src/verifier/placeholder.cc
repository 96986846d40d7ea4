// Placeholder until the verifier lands; delete when src/verifier has sources.
