// How each shared vector's argument object maps onto the package's typed, positional functions.
// One line per core function; a vector file whose function is missing here fails the run.
export const calls = {
  round_money: (mp, a) => mp.roundMoney(a.amount, a.currency),
  normalize_serial: (mp, a) => mp.normalizeSerial(a.raw),
  normalize_phone: (mp, a) => mp.normalizePhone(a.raw, a.region),
  locate_village: (mp, a) => mp.locateVillage(a.hierarchy, a.village_id),
  customer_record: (mp, a) => mp.customerRecord(a.id, a.customer, a.phone_region),
  registration_field_errors: (mp, a) => mp.registrationFieldErrors(a.request),
  register: (mp, a) => mp.register(a.request, a.context),
  reassign_device: (mp, a) => mp.reassignDevice(a.serial, a.device_exists, a.new_owner_id, a.new_owner),
  unit_price: (mp, a) => mp.unitPrice(a.tariff),
  energy_for_money: (mp, a) => mp.energyForMoney(a.tariff, a.net_amount),
  accrue_access_rate: (mp, a) => mp.accrueAccessRate(a.rate, a.registered_on, a.now, a.state),
  installment_schedule: (mp, a) => mp.installmentSchedule(a.terms, a.currency),
  create_installment_plan: (mp, a) => mp.createInstallmentPlan(a.id, a.currency, a.terms, a.down_payment_paid),
  create_plan: (mp, a) => mp.createPlan(a.id, a.plan, a.down_payment_paid),
  plan_summary: (mp, a) => mp.planSummary(a.plan),
  edit_plan_total: (mp, a) => mp.editPlanTotal(a.plan, a.edit),
  edit_installment: (mp, a) => mp.editInstallment(a.plan, a.number, a.amount),
  eaas_price: (mp, a) => mp.eaasPrice(a.plan, a.days),
  allocate_payment: (mp, a) => mp.allocatePayment(a.snapshot, a.payment),
  allocate_plan_payment: (mp, a) => mp.allocatePlanPayment(a.plan, a.amount, a.currency, a.credit_balance),
  validate_payment: (mp, a) => mp.validatePayment(a.snapshot, a.request),
  agent_terms: (mp, a) => mp.agentTerms(a.terms),
  agent_sale: (mp, a) => mp.agentSale(a.terms, a.balance, a.allocation),
  agent_handover: (mp, a) => mp.agentHandover(a.terms, a.balance, a.amount, a.currency),
  openpaygo_generate: (mp, a) => mp.openpaygoGenerate(a.secret_key, a.starting_code, a.count, a.kind, a.value, settings(a)),
  openpaygo_decode: (mp, a) => mp.openpaygoDecode(a.secret_key, a.token, a.starting_code, a.state, settings(a)),
  openpaygo_tokens_for_request: (mp, a) => mp.openpaygoTokensForRequest(a.device, a.request),
  revenue_report: (mp, a) => mp.revenueReport(a.payments, a.currency, a.from, a.to, a.group_by, a.by, a.so_far, a.names),
  energy_sold: (mp, a) => mp.energySold(a.payments, a.from, a.to, a.group_by, a.currency, a.so_far),
  debt_aging: (mp, a) => mp.debtAging(a.installments, a.currency, a.as_of, a.access_rates, a.so_far, a.by, a.names),
  portfolio_at_risk: (mp, a) => mp.portfolioAtRisk(a.installments, a.currency, a.as_of, a.days, a.access_rates, a.so_far, a.by, a.names),
  par_30_60_90: (mp, a) => mp.par30_60_90(a.installments, a.currency, a.as_of, a.access_rates, a.so_far, a.by, a.names),
  collection_rate: (mp, a) => mp.collectionRate(a.installments, a.currency, a.from, a.to, a.so_far, a.by, a.names),
};

function settings(a) {
  return { time_divider: a.time_divider, restricted_digits: a.restricted_digits, extended: a.extended };
}
