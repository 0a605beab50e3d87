// The browser build's typings: init() first, then the functions; the first-page module has the previews only,
// the full module (loaded when a page needs it) everything.
import init, { energyForMoney, type EnergyPurchase, type InitOutput } from "micropower/web";
// @ts-expect-error reports are in the full module only
import { revenueReport as notInTheFirstPageModule } from "micropower/web";
import initFull, { normalizePhone } from "micropower/web/full";

export async function preview(): Promise<EnergyPurchase> {
  const wasm: InitOutput = await init({ module_or_path: new URL("micropower_bg.wasm", "https://example.invalid/") });
  void wasm.memory;
  return energyForMoney({ currency: "TZS", price_per_kwh: "500" }, "1000");
}

export async function phone(): Promise<string> {
  await initFull({ module_or_path: new URL("full_bg.wasm", "https://example.invalid/") });
  return normalizePhone("0712 345 678", "KE");
}

export { notInTheFirstPageModule };
