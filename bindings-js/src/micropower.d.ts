// ---- micropower: hand-written declarations (bindings-js/src/micropower.d.ts) ----------------------------
// Money, energy and prices are decimal strings ("1000", "1.4"); dates are "YYYY-MM-DD" strings; record
// properties are the core's snake_case names. A property marked `?` may be left out (the core's default).

/** A decimal number as text: `"1000"`, `"0.25"`. Outputs are canonical (no trailing zeros, no exponent). */
export type Decimal = string;
/** A calendar date as `YYYY-MM-DD`. */
export type IsoDate = string;
/** An ISO 4217 currency code (`"TZS"`, `"KES"`). */
export type CurrencyCode = string;
/** `"weekly"`, `"monthly"` or `"every_N_days"` (N ≥ 1). */
export type Period = "weekly" | "monthly" | `every_${number}_days`;

// ---- errors -----------------------------------------------------------------------------------------------

/** The core's error variants: an `Error`'s `name`. */
export type ErrorName =
  | "InvalidInput" | "InvalidAmount" | "UnknownCurrency" | "InvalidSerial" | "InvalidPhone" | "InvalidGeoPoint"
  | "DateOutOfRange" | "NotFound" | "ForeignParent" | "DuplicateSerial" | "KindMismatch" | "UnknownSerial"
  | "DeviceUnassigned" | "CurrencyMismatch" | "AmountBelowMinimum" | "TotalBelowPaid" | "NoUntouchedInstallments"
  | "InstallmentTouched" | "InvalidSecretKey" | "InvalidTokenValue" | "InvalidTokenCount" | "TokenRejected"
  | "RiskCeilingExceeded";

/** The same variants in snake_case: an `Error`'s `code`, and the HTTP API's `code`. */
export type ErrorCode =
  | "invalid_input" | "invalid_amount" | "unknown_currency" | "invalid_serial" | "invalid_phone"
  | "invalid_geo_point" | "date_out_of_range" | "not_found" | "foreign_parent" | "duplicate_serial"
  | "kind_mismatch" | "unknown_serial" | "device_unassigned" | "currency_mismatch" | "amount_below_minimum"
  | "total_below_paid" | "no_untouched_installments" | "installment_touched" | "invalid_secret_key"
  | "invalid_token_value" | "invalid_token_count" | "token_rejected" | "risk_ceiling_exceeded";

/** The variant's fields (e.g. `minimum_amount` of `amount_below_minimum`), with its `code` and `message`. */
export interface ErrorDetails {
  code: ErrorCode;
  message: string;
  [field: string]: string | number | boolean | null | undefined;
}

/** What every function of this package throws when the core refuses: a plain `Error` with these fields. */
export interface MicropowerError extends Error {
  name: ErrorName;
  code: ErrorCode;
  details: ErrorDetails;
}

// ---- registry ---------------------------------------------------------------------------------------------

export type DeviceKind = "meter" | "solar_home_system" | "e_bike";
export type TokenScheme = "openpaygo" | "external";

export interface GeoPoint { lat: Decimal; lng: Decimal; }
export interface Cluster { id: string; name: string; }
export interface CatchmentArea { id: string; name: string; cluster_id: string; }
export interface Village { id: string; name: string; area_id: string; }
export interface Hierarchy { clusters?: Cluster[]; areas?: CatchmentArea[]; villages?: Village[]; }
export interface Location { cluster_id: string; area_id: string; village_id: string; }

export interface Customer {
  id: string;
  name: string;
  surname: string;
  phones: string[];
  village_id: string;
  geo?: GeoPoint | null;
  national_id?: string | null;
}

export interface Manufacturer {
  id: string;
  name: string;
  device_kinds: DeviceKind[];
  token_scheme: TokenScheme;
}

/** A customer being registered: `phone` or `phones`, normalised by the core. */
export interface NewCustomer {
  name?: string;
  surname?: string;
  phone?: string | null;
  phones?: string[];
  village_id?: string;
  geo?: GeoPoint | null;
  national_id?: string | null;
}

/** An existing customer by id, or a new one. */
export type CustomerInput = { id: string } | NewCustomer;

export interface OpenPaygoDevice {
  secret_key: string;
  starting_code?: number | null;
  count?: number;
  time_divider?: number;
  restricted_digits?: boolean;
  extended?: boolean;
}

export interface DeviceInput {
  serial: string;
  kind: DeviceKind;
  manufacturer_id: string;
  tariff_id?: string | null;
  openpaygo?: OpenPaygoDevice | null;
}

export interface InstallmentTerms {
  total_cost: Decimal;
  down_payment?: Decimal;
  installments: number;
  period: Period;
  start_date: IsoDate;
  minimum_payment?: Decimal | null;
}

export interface EaasTerms { price_per_day: Decimal; minimum_payable?: Decimal; }

/** An appliance sold on installments (the terms' fields) or as energy-as-a-service (`eaas`). */
export type PlanInput =
  | ({ appliance: string; currency: CurrencyCode } & InstallmentTerms)
  | { appliance: string; currency: CurrencyCode; eaas: EaasTerms };

export interface RegistrationRequest {
  customer: CustomerInput;
  device: DeviceInput;
  plan?: PlanInput | null;
  registered_on: IsoDate;
  phone_region?: string | null;
  down_payment_paid?: boolean;
}

/** What the host looked up for a registration. */
export interface RegistrationContext {
  location?: Location | null;
  existing_customer?: Customer | null;
  manufacturer?: Manufacturer | null;
  tariff?: Tariff | null;
  serial_taken?: boolean;
  new_customer_id?: string | null;
  new_plan_id?: string | null;
}

export interface FieldError { field: string; code: string; message: string; }

export interface RegisteredDevice {
  serial: string;
  serial_raw: string;
  kind: DeviceKind;
  manufacturer_id: string;
  token_scheme: TokenScheme;
  tariff_id: string | null;
  owner_id: string;
  registered_on: IsoDate;
  openpaygo: OpenPaygoDevice | null;
}

export type RegisteredPlan =
  | { kind: "installments"; appliance: string; plan: InstallmentPlan }
  | { kind: "eaas"; appliance: string; plan: EaasPlan };

export interface Registration {
  customer: Customer;
  new_customer: boolean;
  location: Location;
  device: RegisteredDevice;
  plan: RegisteredPlan | null;
}

// ---- tariffs and access rate ------------------------------------------------------------------------------

export interface FeeComponent { name: string; price_per_kwh: Decimal; }
export interface AccessRate { amount: Decimal; period_days: number; }

export interface Tariff {
  id?: string | null;
  currency: CurrencyCode;
  price_per_kwh: Decimal;
  fees?: FeeComponent[];
  access_rate?: AccessRate | null;
  minimum_purchase?: Decimal;
  energy_step_kwh?: Decimal;
}

export interface EnergyPurchase { kwh: Decimal; cost: Decimal; credit: Decimal; }
export interface AccessRateState { accrued_periods?: number; debt?: Decimal; }
export interface Accrual { state: AccessRateState; new_periods: number; new_debt: Decimal; }

// ---- plans ------------------------------------------------------------------------------------------------

export interface ScheduledInstallment { number: number; due_date: IsoDate; amount: Decimal; }
export interface Installment { number: number; due_date: IsoDate; amount: Decimal; paid?: Decimal; }

export interface InstallmentPlan {
  id: string;
  currency: CurrencyCode;
  period: Period;
  start_date: IsoDate;
  installments: Installment[];
  minimum_payment?: Decimal | null;
}

export interface InstallmentView {
  number: number;
  due_date: IsoDate;
  amount: Decimal;
  paid: Decimal;
  remaining: Decimal;
}

export interface PlanSummary {
  id: string;
  currency: CurrencyCode;
  period: Period;
  total_cost: Decimal;
  paid: Decimal;
  outstanding: Decimal;
  installments: InstallmentView[];
}

/** A new total; with `installments` and `period` the untouched part is rescheduled. */
export interface TotalEdit { total_cost: Decimal; installments?: number | null; period?: Period | null; }

export interface EaasPlan { id: string; currency: CurrencyCode; price_per_day: Decimal; minimum_payable?: Decimal; }

// ---- payments ---------------------------------------------------------------------------------------------

export interface Payment { serial: string; amount: Decimal; currency: CurrencyCode; received_on: IsoDate; }
export interface Owner { id: string; name: string; surname?: string; }

export interface DeviceAccount {
  serial: string;
  kind: DeviceKind;
  registered_on: IsoDate;
  owner?: Owner | null;
}

/**
 * What one token can carry, in its unit (kWh or days): a decimal ("0.1", a vendor's) or "1/<n>" (OpenPAYGO
 * with time divider n, exact where 1/n has no finite decimal). Quantities are sold on its decimal grid.
 */
export type Resolution = Decimal | `${number}/${number}`;

/** How a device is billed: a meter by its tariff, an SHS or e-bike by its plan. */
export type Billing =
  | { kind: "meter"; tariff: Tariff; access_rate?: AccessRateState; token_resolution?: Resolution | null }
  | { kind: "installments"; plan: InstallmentPlan; day_resolution?: Resolution }
  | { kind: "eaas"; plan: EaasPlan; day_resolution?: Resolution };

/** Everything the core needs to know about one account to allocate a payment. */
export interface AccountSnapshot {
  device: DeviceAccount;
  billing: Billing;
  customer_plans?: InstallmentPlan[];
  credit_balance?: Decimal;
}

export type AllocationKind = "installment" | "access_rate" | "energy" | "eaas";
export type NoTokenReason =
  | "nothing_left_after_debt" | "below_minimum_purchase" | "below_one_unit" | "below_minimum_payable"
  | "plan_already_paid" | "no_device";
export type TokenUnit = "kwh" | "days" | "unlock";

export interface AllocationLine {
  kind: AllocationKind;
  amount: Decimal;
  plan_id?: string;
  installment?: number;
  quantity?: Decimal;
}

export interface TokenRequest { serial: string; unit: TokenUnit; quantity: Decimal; }

export interface Allocation {
  serial: string;
  currency: CurrencyCode;
  amount: Decimal;
  lines: AllocationLine[];
  credit_used: Decimal;
  credit_added: Decimal;
  credit_balance: Decimal;
  access_rate?: AccessRateState;
  plans?: InstallmentPlan[];
  token?: TokenRequest;
  no_token_reason?: NoTokenReason;
}

export type Channel = "provider" | "operator";

export interface ValidationRequest {
  serial: string;
  amount: Decimal;
  currency: CurrencyCode;
  received_on: IsoDate;
  channel?: Channel;
}

export interface Validation {
  accepted: boolean;
  customer_name: string;
  minimum_amount: Decimal;
  preview: Allocation;
}

// ---- OpenPAYGO --------------------------------------------------------------------------------------------

export type OpenPaygoKind = "add_time" | "set_time" | "disable_payg" | "counter_sync";

/** The token format settings of a device (defaults: 1, false, false). */
export interface OpenPaygoOptions { time_divider?: number; restricted_digits?: boolean; extended?: boolean; }

export interface OpenPaygoToken { code: string; count: number; }
export interface DecoderState { last_count: number; used_counts?: number[]; }
export interface DecodedToken { kind: OpenPaygoKind; value: Decimal; count: number; state: DecoderState; }
export interface IssuedToken { kind: OpenPaygoKind; value: Decimal; code: string; count: number; }
export interface IssuedTokens { tokens: IssuedToken[]; new_count: number; }

// ---- reports ----------------------------------------------------------------------------------------------

export type PeriodUnit = "day" | "week" | "month";
export type GroupBy = "cluster" | "area" | "village" | "kind" | "none";

/** One allocated payment, as the server's export writes it. */
export interface PaymentRecord {
  payment_id: string;
  received_on: IsoDate;
  currency: CurrencyCode;
  /** Absent (null) for a payment to a plan sold without a device; `by: "kind"` groups it as "appliance". */
  device_kind?: DeviceKind | null;
  location: Location;
  lines?: AllocationLine[];
}

/** One installment of a plan, as the server's export writes it. */
export interface InstallmentRecord {
  plan_id: string;
  customer_id: string;
  currency: CurrencyCode;
  location?: Location | null;
  number: number;
  due_date: IsoDate;
  amount: Decimal;
  paid?: Decimal;
}

/** A meter's access-rate account as stored at its last payment; debt reports accrue it to their day. */
export interface AccessRateRecord {
  serial: string;
  customer_id?: string | null;
  currency: CurrencyCode;
  location?: Location | null;
  registered_on: IsoDate;
  rate: AccessRate;
  state?: AccessRateState;
}

export interface KindAmounts { installment: Decimal; access_rate: Decimal; energy: Decimal; eaas: Decimal; }
/** A group of a report split by place or kind: the id, and the registry's name (null when unknown, and for kinds). */
export interface ReportGroup { id: string; name: string | null; }
export interface RevenueRow { period_start: IsoDate; group: ReportGroup | null; by_kind: KindAmounts; total: Decimal; }
export interface RevenueReport { rows: RevenueRow[]; by_kind: KindAmounts; total: Decimal; }
export interface EnergyRow { period_start: IsoDate; kwh: Decimal; amount: Decimal | null; }
export interface EnergySold { rows: EnergyRow[]; kwh: Decimal; amount: Decimal | null; }
export interface AgingBucket { amount: Decimal; installments: number; }
export interface AccessRateDebt { amount: Decimal; meters: number; }

export interface DebtAging {
  current: AgingBucket;
  days_1_30: AgingBucket;
  days_31_60: AgingBucket;
  days_61_90: AgingBucket;
  days_over_90: AgingBucket;
  /** Meters' access-rate debt accrued up to the report's day: its own line, part of `outstanding`. */
  access_rate: AccessRateDebt;
  outstanding: Decimal;
  installments: number;
}

export interface PortfolioAtRisk { days: number; at_risk: Decimal; outstanding: Decimal; ratio: Decimal; }
export interface ParSummary { par30: PortfolioAtRisk; par60: PortfolioAtRisk; par90: PortfolioAtRisk; }
export interface CollectionRate { due: Decimal; collected: Decimal; rate: Decimal | null; }
/** A debt report split by place: the whole report, then each group's (`groups` absent when not split). */
export type Grouped<T> = T & { groups?: Array<T & { group: ReportGroup }> };
/** The registry that names a report's groups. */
export interface ReportNames { clusters?: Cluster[]; areas?: CatchmentArea[]; villages?: Village[]; }
/** What debt reports split by: a place (installments carry no device kind). */
export type PlaceGroupBy = "cluster" | "area" | "village" | "none";

// ---- functions (each is one call of the core; each throws a MicropowerError when the core refuses) -------
// Both modules have these; the full module (`micropower/full`, and `micropower` in Node.js) adds every other
// core function (bindings-js/src/full.d.ts).

/** The core's function names (snake_case), as in `tests/vectors/`. */
export function coreFunctions(): string[];
/** Every error code, in the core's order. */
export function errorCodes(): ErrorCode[];
/** A core function by its snake_case name with one argument object, as the shared vectors write it. */
export function callCore(functionName: string, args: object): unknown;
/**
 * `callCore` with text in and out: the argument object as JSON text (`{"snapshot": …, "payment": …}`), the
 * answer as JSON text. The fastest path when the arguments already are text (a server's response body); it
 * skips `JSON.stringify` of the arguments and `JSON.parse` of the answer. Refusals throw as everywhere.
 */
export function callCoreText(functionName: string, argsJson: string): string;

export function roundMoney(amount: Decimal, currency: CurrencyCode): Decimal;
export function normalizeSerial(raw: string): string;
export function unitPrice(tariff: Tariff): Decimal;
export function energyForMoney(tariff: Tariff, netAmount: Decimal): EnergyPurchase;
export function installmentSchedule(terms: InstallmentTerms, currency: CurrencyCode): ScheduledInstallment[];
export function planSummary(plan: InstallmentPlan): PlanSummary;
export function eaasPrice(plan: EaasPlan, days: Decimal): Decimal;
export function allocatePayment(snapshot: AccountSnapshot | null, payment: Payment): Allocation;
export function allocatePlanPayment(plan: InstallmentPlan, amount: Decimal, currency: CurrencyCode, creditBalance?: Decimal | null): Allocation;
export function validatePayment(snapshot: AccountSnapshot | null, request: ValidationRequest): Validation;
