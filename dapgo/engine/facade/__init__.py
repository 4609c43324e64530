"""The parts of the engine facade (dapgo.engine.debugger.Debugger), one concern each."""
