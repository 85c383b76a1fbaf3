export { OutputBank, type OutputBankOptions, type ActuationReport, type BankStatus, type HoldRequest, type PulseRequest } from './output-bank.js';
export { installSafetyHooks, type SafetyHookOptions } from './safety-hooks.js';
export type { Actuator, DriverContext, PublishFn } from './actuator.js';
export type { OutputStatus, ReportKind } from './channel.js';
