import i18next from 'i18next';
import { initReactI18next } from 'react-i18next';
import { en } from './en.js';
import { zh } from './zh.js';

export const languages = [
  { value: 'en', label: 'English' },
  { value: 'zh', label: '中文' },
];

const langKey = 'mortise.lang';

/** The language chosen before, else the browser's (Chinese or English). */
export function initialLanguage(): string {
  const saved = localStorage.getItem(langKey);
  if (saved && languages.some((l) => l.value === saved)) return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export function setLanguage(lang: string): void {
  localStorage.setItem(langKey, lang);
  document.documentElement.lang = lang;
  void i18next.changeLanguage(lang);
}

void i18next.use(initReactI18next).init({
  resources: { en: { translation: en }, zh: { translation: zh } },
  lng: initialLanguage(),
  fallbackLng: 'en',
  interpolation: { escapeValue: false },
  showSupportNotice: false,
});
document.documentElement.lang = i18next.language;

export { i18next };
