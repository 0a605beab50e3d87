
// ---- the full module only (`micropower/full`, bindings-js/src/full.d.ts) -----------------------------------
// The first-page module (`micropower`) leaves these out to stay small: the phone rules (libphonenumber's
// metadata), registration, plan changes, OpenPAYGO tokens and reports.

/** A valid phone number in E.164 (`"+255712345678"`); `region` (`"TZ"`) for numbers written without `+`. */
export function normalizePhone(raw: string, region?: string | null): string;
/** Every offline rule of a registration form, each failure tied to its field; empty when it may be posted. */
export function registrationFieldErrors(request: RegistrationRequest): FieldError[];
/** Checks a registration against what the host looked up and returns the records to store. */
export function register(request: RegistrationRequest, context: RegistrationContext): Registration;
export function locateVillage(hierarchy: Hierarchy, villageId: string): Location;
/** A customer's record from the typed fields (created alone, or as it would be after an edit): names trimmed
 * and required (1 to 200 characters), at least one phone, each in E.164 without repeats, a village. */
export function customerRecord(id: string, customer: NewCustomer, phoneRegion?: string | null): Customer;
export function reassignDevice(serial: string, deviceExists: boolean, newOwnerId: string, newOwner?: Customer | null): string;
export function accrueAccessRate(rate: AccessRate, registeredOn: IsoDate, now: IsoDate, state?: AccessRateState | null): Accrual;
export function createInstallmentPlan(id: string, currency: CurrencyCode, terms: InstallmentTerms, downPaymentPaid?: boolean): InstallmentPlan;
export function createPlan(id: string, plan: PlanInput, downPaymentPaid?: boolean): RegisteredPlan;
export function editPlanTotal(plan: InstallmentPlan, edit: TotalEdit): InstallmentPlan;
export function editInstallment(plan: InstallmentPlan, number: number, amount: Decimal): InstallmentPlan;
/** A field agent's commission rates: fractions from 0 to 1 (`"0.05"` is 5 %). */
export interface CommissionRates { energy_rate: Decimal; appliance_rate: Decimal; }
/** What a field agent may hold (`risk_ceiling`) and earns (`commission`), in its currency. */
export interface AgentTerms { currency: CurrencyCode; commission: CommissionRates; risk_ceiling: Decimal; }
/** One line of an agent's ledger: a sale adds cash, a handover (negative) removes it, a commission is earned. */
export interface AgentLine { kind: "sale" | "commission" | "handover"; amount: Decimal; }
/** The lines a sale or handover adds, and the cash the agent holds after them. */
export interface AgentEntry { lines: AgentLine[]; balance: Decimal; }
/** An agent's terms checked (rates 0 to 1, ceiling in the currency's units) and in canonical form. */
export function agentTerms(terms: AgentTerms): AgentTerms;
/** The ledger lines (sale, commission by what the money paid) of an agent's cash sale; `RiskCeilingExceeded`
 * when the balance would pass the ceiling. */
export function agentSale(terms: AgentTerms, balance: Decimal, allocation: Allocation): AgentEntry;
/** The handover line (−amount) of cash an agent hands over; at most the balance. */
export function agentHandover(terms: AgentTerms, balance: Decimal, amount: Decimal, currency: CurrencyCode): AgentEntry;
export function openpaygoGenerate(secretKey: string, startingCode: number | null, count: number, kind: OpenPaygoKind, value?: Decimal | null, options?: OpenPaygoOptions | null): OpenPaygoToken;
export function openpaygoDecode(secretKey: string, token: string, startingCode?: number | null, state?: DecoderState | null, options?: OpenPaygoOptions | null): DecodedToken;
export function openpaygoTokensForRequest(device: OpenPaygoDevice, request: TokenRequest): IssuedTokens;
export function revenueReport(payments: PaymentRecord[], currency: CurrencyCode, from: IsoDate, to: IsoDate, groupBy: PeriodUnit, by?: GroupBy | null, soFar?: RevenueReport | null, names?: ReportNames | null): RevenueReport;
export function energySold(payments: PaymentRecord[], from: IsoDate, to: IsoDate, groupBy: PeriodUnit, currency?: CurrencyCode | null, soFar?: EnergySold | null): EnergySold;
export function debtAging(installments: InstallmentRecord[], currency: CurrencyCode, asOf: IsoDate, accessRates?: AccessRateRecord[] | null, soFar?: Grouped<DebtAging> | null, by?: PlaceGroupBy | null, names?: ReportNames | null): Grouped<DebtAging>;
export function portfolioAtRisk(installments: InstallmentRecord[], currency: CurrencyCode, asOf: IsoDate, days: number, accessRates?: AccessRateRecord[] | null, soFar?: Grouped<PortfolioAtRisk> | null, by?: PlaceGroupBy | null, names?: ReportNames | null): Grouped<PortfolioAtRisk>;
export function par30_60_90(installments: InstallmentRecord[], currency: CurrencyCode, asOf: IsoDate, accessRates?: AccessRateRecord[] | null, soFar?: Grouped<ParSummary> | null, by?: PlaceGroupBy | null, names?: ReportNames | null): Grouped<ParSummary>;
export function collectionRate(installments: InstallmentRecord[], currency: CurrencyCode, from: IsoDate, to: IsoDate, soFar?: CollectionRate | null, by?: PlaceGroupBy | null, names?: ReportNames | null): Grouped<CollectionRate>;
