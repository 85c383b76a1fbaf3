export { probe, type ProbeCommands } from './probe.js';
export { detectCapabilities, acceleratorUsability, type CapabilityProbes, type DetectCapabilitiesOptions } from './capabilities.js';
export { energyPerInferenceJ, dynamicJPerGflop, powerTable, powerClassOf, acceleratorPowerClass, type PowerEntry, type PowerClass } from './power.js';
export type * from '../../agent/select/hardware.js';
