//! The planner: placeholder until the engine lands.
